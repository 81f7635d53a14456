/**
 * A string kept for reuse in log lines, flattened once.
 *
 * V8 keeps a concatenation as a tree of its pieces (a cons string). A line
 * that appends a kept string appends that tree, and writing the line walks
 * it again, piece by piece, every time. Flattening a kept string when it is
 * made (a run of fields, a rendered User-Agent, a line's constant head) turns
 * it into one piece for every line after: a JSON access line cost 18.1k
 * instructions before, 15.4k after (valgrind, AccessLog + LineWriter in one
 * process, the harness included).
 *
 * Converting a string to a number flattens it in place (the trick of pino's
 * former `flatstr`); the result goes into a module variable, a store the
 * compiler keeps, so the conversion is never dropped as unused.
 */
let sink = 0;

export function flattened(text: string): string {
  sink ^= Number(text) | 0;
  return text;
}
