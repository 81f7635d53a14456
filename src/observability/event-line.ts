/**
 * Hand-built lines for the events whose fields are fixed (lifecycle events,
 * the access line): no field object, no generic walk, no JSON re-parse for
 * the text format. The line has the same shape as a pino line of the same
 * logger: level, timestamp, logger, worker_id, the fields in call order, msg.
 *
 *   const line = lines.begin('debug', at, 'Request started');
 *   line.word('event', 'RequestStarted'); line.int('connection_id', 7); ...
 *   line.end();
 *
 * One EventLine is reused for every line of its logger (begin() resets it):
 * there is one thread and a line is begun and ended in one synchronous call.
 */
import { isoTimestamp, textTime } from './clock.js';
import { escapeControls } from '../server/path.js';
import { flattened } from './flat-string.js';

export type EventLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LineSink {
  write(line: string): unknown;
}

export interface EventLine {
  /** Start a line of this logger at `level`, stamped `at` (epoch ms, fractional), with message `msg`, one of a few constants. */
  begin(level: EventLevel, at: number, msg: string): void;
  /**
   * Start an access line, whose message is the request line the way servers
   * log it: `127.0.0.1:51660 - "GET /a HTTP/1.1" 200`. Inside the quotes a
   * quote of the path is written %22, so the request line stays one token.
   */
  beginRequestLine(
    level: EventLevel,
    at: number,
    memo: Repeated,
    clientAddr: string,
    clientPort: number,
    method: string,
    path: string,
    httpVersion: string,
    status: number,
  ): void;
  /**
   * Fields that a connection's requests repeat (the same method, path and
   * status, request after request), rendered once and reused while their
   * key values stay the same:
   *
   *   if (!line.repeat(memo, rec.method, rec.path)) {
   *     line.word('method', rec.method); line.str('path', rec.path);
   *     line.endRepeat(memo);
   *   }
   *
   * True: the run rendered for these keys was appended, write nothing more
   * of it. False: write the run, then call endRepeat(memo). Everything the
   * run writes must follow from its keys and the connection alone (`memo`
   * lives on the connection: see repeatedOn).
   */
  repeat(memo: Repeated, a: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): boolean;
  endRepeat(memo: Repeated): void;
  /** A value known to need no escaping: an event name, a method token, an IP address, an enum. */
  word(key: string, value: string): void;
  /** Any string: escaped (JSON) or quoted when needed (text). */
  str(key: string, value: string): void;
  /** A string or, when absent, null (JSON) / nothing (text). */
  strOrNull(key: string, value: string | undefined): void;
  /**
   * A string as the client sent it (a User-Agent): its control characters
   * shown as %XX, then escaped as the format needs; absent: null (JSON) /
   * nothing (text).
   */
  clientTextOrNull(key: string, value: string | undefined): void;
  int(key: string, value: number): void;
  /** A duration in ms (the text format shows a whole number as `3500.0`). */
  ms(key: string, value: number): void;
  bool(key: string, value: boolean): void;
  /** Finish the line and hand it to the sink. */
  end(): void;
}

// Characters a JSON string must escape ("  \  C0), plus what we escape so that no
// raw control character reaches a terminal or a log viewer (DEL, C1: 0x85 is a
// newline to some, 0x9b a terminal escape), plus lone surrogates (JSON.stringify
// writes those as \udxxx: the output stays valid UTF-8).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;
const C1 = /[\u007f-\u009f]/g;
const c1Escape = (c: string) => '\\u00' + c.charCodeAt(0).toString(16);

/** `value` as a JSON string literal, quotes included. */
export function jsonString(value: string): string {
  if (!needsEscape(value)) return '"' + value + '"';
  return JSON.stringify(value).replace(C1, c1Escape);
}

/**
 * NEEDS_ESCAPE.test(value), remembered for the last two strings checked. An
 * access line checks its path twice (message and field) and then the
 * User-Agent; the next request on the connection usually brings the same two
 * again. Comparing a string costs far less than scanning it (~600
 * instructions for a User-Agent's RegExp test, valgrind).
 */
let checkedA = '';
let escapeA = false;
let checkedB = '';
let escapeB = false;
function needsEscape(value: string): boolean {
  if (value === checkedA) return escapeA;
  if (value === checkedB) return escapeB;
  const result = scanNeedsEscape(value);
  checkedB = checkedA;
  escapeB = escapeA;
  checkedA = value;
  escapeA = result;
  return result;
}

/**
 * A loop is cheaper than the RegExp only for the shortest strings (measured
 * with valgrind: ~45 instructions a character for the loop, ~15 plus ~200 a
 * call for the RegExp: even at 10 characters).
 */
function scanNeedsEscape(value: string): boolean {
  if (value.length > 8) return NEEDS_ESCAPE.test(value);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 34 || c === 92 || (c >= 0x7f && (c <= 0x9f || (c >= 0xd800 && c <= 0xdfff)))) return true;
  }
  return false;
}

/**
 * A duration in ms rounded to microseconds, as String(value) writes it, but
 * from integers (a double's shortest decimal form is costly to find).
 */
function msString(value: number): string {
  const micros = Math.round(value * 1000);
  if (!(value >= 0 && value < 1e9 && micros / 1000 === value)) return String(value);
  const whole = Math.floor(micros / 1000);
  return whole + FRACTIONS[micros - whole * 1000]!;
}

/** The decimals of n/1000 for n in 0..999 as String() writes them, no trailing zeros: '', '.5', '.05', '.005', '.123', '.12'. */
const FRACTIONS: readonly string[] = Array.from({ length: 1000 }, (_, n) => (n === 0 ? '' : String(n / 1000).slice(1)));

// The constant pieces of a line, made once.
const LEVEL_HEADS: Record<EventLevel, string> = {
  debug: '{"level":"debug","timestamp":"',
  info: '{"level":"info","timestamp":"',
  warn: '{"level":"warn","timestamp":"',
  error: '{"level":"error","timestamp":"',
};
// begin()'s messages are a handful of constants: their escaped tails are made once.
const MSG_TAILS = new Map<string, string>();
/** `,"msg":"…"}` and the newline. */
function msgTail(msg: string): string {
  let tail = MSG_TAILS.get(msg);
  if (tail === undefined) {
    tail = flattened(',"msg":' + jsonString(msg) + '}\n');
    if (MSG_TAILS.size < 256) MSG_TAILS.set(msg, tail);
  }
  return tail;
}

/** `value` escaped for the inside of a JSON string (no quotes around). */
function jsonInner(value: string): string {
  return needsEscape(value) ? jsonString(value).slice(1, -1) : value;
}

/** A quote in a path, as %22: inside a quoted request line it would end the quotes. */
export function quotesAsPercent(path: string): string {
  return path.indexOf('"') === -1 ? path : path.replace(/"/g, '%22');
}

/**
 * One run of fields rendered for one set of key values, by one EventLine
 * (see EventLine.repeat). A string compare is far cheaper than rendering:
 * a run reused saves its concatenation, its escaping checks, and the
 * flattening of its pieces when the line is written (a JSON access line:
 * 11.6k -> 9.5k instructions, valgrind).
 */
export class Repeated {
  /** The EventLine that rendered `text` for the keys below; undefined while none is valid. */
  owner: object | undefined = undefined;
  a: unknown = undefined;
  b: unknown = undefined;
  c: unknown = undefined;
  d: unknown = undefined;
  e: unknown = undefined;
  f: unknown = undefined;
  text = '';

  matches(owner: object, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): boolean {
    return this.owner === owner && this.a === a && this.b === b && this.c === c && this.d === d && this.e === e && this.f === f;
  }

  /** Take new keys: no text is valid until set() (a run that throws midway leaves none). */
  rekey(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown): void {
    this.owner = undefined;
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    this.e = e;
    this.f = f;
  }

  set(owner: object, text: string): void {
    this.text = flattened(text);
    this.owner = owner;
  }
}

/** A call site's slot in the memos of a connection: taken once, at load. */
let slots = 0;
export function repeatSlot(): number {
  return slots++;
}

/** The memo of `slot` on a connection (anything with a `memos` array), made on first use. */
export function repeatedOn(holder: { readonly memos: unknown[] }, slot: number): Repeated {
  let memo = holder.memos[slot] as Repeated | undefined;
  if (memo === undefined) holder.memos[slot] = memo = new Repeated();
  return memo;
}

/**
 * What JSON and text lines share: the text the field methods append to, and
 * the runs of fields kept for reuse (EventLine.repeat).
 */
abstract class RunsOfFields {
  /** JSON: the line so far; text: its ` key=value` part so far. */
  protected body = '';
  /** The body before the run being rendered (repeat() → endRepeat()). */
  private beforeRun = '';

  repeat(memo: Repeated, a: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): boolean {
    if (memo.matches(this, a, b, c, d, e, f)) {
      this.body += memo.text;
      return true;
    }
    memo.rekey(a, b, c, d, e, f);
    this.beforeRun = this.body;
    this.body = '';
    return false;
  }

  endRepeat(memo: Repeated): void {
    memo.set(this, this.body);
    this.body = this.beforeRun + this.body;
    this.beforeRun = '';
  }
}

/** JSON lines: `{"level":"debug","timestamp":"…","logger":"…","worker_id":1,…,"msg":"…"}`. */
export class JsonEventLine extends RunsOfFields implements EventLine {
  private tail = '';
  /** The last client text written (clientTextOrNull) and its rendering. */
  private clientText = '';
  private clientTextRendered = '""';
  private readonly afterTimestamp: string;

  constructor(
    private readonly sink: LineSink,
    logger: string,
    workerId: number | undefined,
  ) {
    super();
    this.afterTimestamp = flattened('","logger":' + jsonString(logger) + (workerId === undefined ? '' : ',"worker_id":' + workerId));
  }

  begin(level: EventLevel, at: number, msg: string): void {
    this.body = LEVEL_HEADS[level] + isoTimestamp(at) + this.afterTimestamp;
    this.tail = msgTail(msg);
  }
  beginRequestLine(
    level: EventLevel,
    at: number,
    memo: Repeated,
    clientAddr: string,
    clientPort: number,
    method: string,
    path: string,
    httpVersion: string,
    status: number,
  ): void {
    this.body = LEVEL_HEADS[level] + isoTimestamp(at) + this.afterTimestamp;
    if (!memo.matches(this, clientAddr, clientPort, method, path, httpVersion, status)) {
      memo.rekey(clientAddr, clientPort, method, path, httpVersion, status);
      // An address, a method token, version digits (node's parser checked them): only the path may need escaping.
      memo.set(
        this,
        ',"msg":"' + clientAddr + ':' + clientPort + ' - \\"' + method + ' ' + jsonInner(quotesAsPercent(path)) + ' HTTP/' + httpVersion + '\\" ' + status + '"}\n',
      );
    }
    this.tail = memo.text;
  }
  word(key: string, value: string): void {
    this.body += ',"' + key + '":"' + value + '"';
  }
  str(key: string, value: string): void {
    this.body += ',"' + key + '":' + jsonString(value);
  }
  strOrNull(key: string, value: string | undefined): void {
    this.body += ',"' + key + '":' + (value === undefined ? 'null' : jsonString(value));
  }
  clientTextOrNull(key: string, value: string | undefined): void {
    if (value === undefined) {
      this.body += ',"' + key + '":null';
      return;
    }
    // A connection's requests bring the same User-Agent: render it once.
    if (value !== this.clientText) {
      this.clientText = value;
      // One scan in the common case: nothing to escape means no control character either.
      this.clientTextRendered = flattened(needsEscape(value) ? jsonString(escapeControls(value)) : '"' + value + '"');
    }
    this.body += ',"' + key + '":' + this.clientTextRendered;
  }
  int(key: string, value: number): void {
    this.body += ',"' + key + '":' + value;
  }
  ms(key: string, value: number): void {
    this.body += ',"' + key + '":' + msString(value);
  }
  bool(key: string, value: boolean): void {
    this.body += ',"' + key + '":' + value;
  }
  end(): void {
    const line = this.body + this.tail;
    this.body = '';
    this.sink.write(line);
  }
}

// pino-pretty's palette (colorette): debug blue, info green, warn yellow, error red, fatal on red.
const LEVEL_COLORS: Record<string, [string, string]> = {
  trace: ['\x1b[90m', '\x1b[39m'],
  debug: ['\x1b[34m', '\x1b[39m'],
  info: ['\x1b[32m', '\x1b[39m'],
  warn: ['\x1b[33m', '\x1b[39m'],
  error: ['\x1b[31m', '\x1b[39m'],
  fatal: ['\x1b[41m', '\x1b[49m'],
};

/** The level as the text format shows it: upper case, padded to 5, colored when asked for. */
export function textLevel(level: string, color: boolean): string {
  const label = level.toUpperCase();
  const padding = label.length < 5 ? ' '.repeat(5 - label.length) : '';
  const paint = color ? LEVEL_COLORS[level] : undefined;
  return paint ? paint[0] + label + paint[1] + padding : label + padding;
}

// A text value is quoted (as a JSON string) when it is empty or holds space, quote, '=', a backslash or a control character.
const NEEDS_QUOTES = /[\s"=\\\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;

/** A value in the text format's key=value pairs. */
export function textValue(value: string): string {
  return value === '' || NEEDS_QUOTES.test(value) ? jsonString(value) : value;
}

/** A message in the text format: one line, no raw control character. */
export function textMessage(msg: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(msg) ? jsonString(msg).slice(1, -1) : msg;
}

/** Text lines: `10:15:33.625 INFO  pounce.lifecycle Response completed  worker_id=1 event=… key=value`. */
export class TextEventLine extends RunsOfFields implements EventLine {
  private line = '';
  /** ` key=value` for each field; the first gets one more space at end(). */
  private readonly levels: Record<EventLevel, string>;
  private readonly afterLevel: string;
  /** The last client text written (clientTextOrNull) and its rendering. */
  private clientText = '';
  private clientTextRendered = '""';
  private readonly workerField: string;

  constructor(
    private readonly sink: LineSink,
    logger: string,
    workerId: number | undefined,
    color: boolean,
  ) {
    super();
    this.levels = {
      debug: flattened(textLevel('debug', color)),
      info: flattened(textLevel('info', color)),
      warn: flattened(textLevel('warn', color)),
      error: flattened(textLevel('error', color)),
    };
    this.afterLevel = flattened(' ' + logger + ' ');
    this.workerField = flattened(workerId === undefined ? '' : ' worker_id=' + workerId);
  }

  begin(level: EventLevel, at: number, msg: string): void {
    this.line = textTime(at) + ' ' + this.levels[level] + this.afterLevel + textMessage(msg);
    this.body = this.workerField;
  }
  beginRequestLine(
    level: EventLevel,
    at: number,
    memo: Repeated,
    clientAddr: string,
    clientPort: number,
    method: string,
    path: string,
    httpVersion: string,
    status: number,
  ): void {
    if (!memo.matches(this, clientAddr, clientPort, method, path, httpVersion, status)) {
      memo.rekey(clientAddr, clientPort, method, path, httpVersion, status);
      // Inside the quotes a backslash or a control character is escaped too: the request line stays readable as one token.
      const p = quotesAsPercent(path);
      const inner = needsEscape(p) ? jsonString(p).slice(1, -1) : p;
      memo.set(this, clientAddr + ':' + clientPort + ' - "' + method + ' ' + inner + ' HTTP/' + httpVersion + '" ' + status);
    }
    this.line = textTime(at) + ' ' + this.levels[level] + this.afterLevel + memo.text;
    this.body = this.workerField;
  }
  // Each method appends ` key=` + value in one expression: once inlined, ` key=` is one constant.
  word(key: string, value: string): void {
    this.body += ' ' + key + '=' + value;
  }
  str(key: string, value: string): void {
    this.body += ' ' + key + '=' + textValue(value);
  }
  strOrNull(key: string, value: string | undefined): void {
    if (value !== undefined) this.body += ' ' + key + '=' + textValue(value);
  }
  clientTextOrNull(key: string, value: string | undefined): void {
    if (value === undefined) return;
    // A connection's requests bring the same User-Agent: render it once.
    if (value !== this.clientText) {
      this.clientText = value;
      // A User-Agent holds spaces (so it is quoted) but rarely anything to escape: two scans, not four.
      this.clientTextRendered = flattened(
        value !== '' && !NEEDS_QUOTES.test(value) ? value : !needsEscape(value) ? '"' + value + '"' : textValue(escapeControls(value)),
      );
    }
    this.body += ' ' + key + '=' + this.clientTextRendered;
  }
  int(key: string, value: number): void {
    this.body += ' ' + key + '=' + value;
  }
  ms(key: string, value: number): void {
    this.body += ' ' + key + '=' + (Number.isInteger(value) ? value.toFixed(1) : msString(value));
  }
  bool(key: string, value: boolean): void {
    this.body += ' ' + key + '=' + value;
  }
  end(): void {
    const fields = this.body;
    const line = fields === '' ? this.line + '\n' : this.line + ' ' + fields + '\n';
    this.line = '';
    this.body = '';
    this.sink.write(line);
  }
}

