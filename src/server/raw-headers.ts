import type { IncomingMessage } from 'node:http';

/**
 * One request header, read from `req.rawHeaders` (first occurrence). node
 * builds `req.headers` (an object holding every header) only when something
 * reads it: pounce's own checks and log lines must not make every request pay
 * for it when the app never looks.
 */
export function rawHeader(req: IncomingMessage, lowerName: string): string | undefined {
  const raw = req.rawHeaders;
  const length = lowerName.length;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === length && isNamed(name, lowerName)) return raw[i + 1];
  }
  return undefined;
}

/**
 * `name.toLowerCase() === lowerName` for names of the same length, without
 * making the lower-case copy (a string allocated per header compared, and
 * ~100 instructions for `Host`, valgrind). Header names are tokens: ASCII.
 */
function isNamed(name: string, lowerName: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lowerName.charCodeAt(i)) return false;
  }
  return true;
}
