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
import { isoTimestamp, secondPrefix, textTime } from './clock.js';
import type { ByteSink } from './line-writer.js';

export type EventLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LineSink {
  write(line: string): unknown;
}

export interface EventLine {
  /** Start a line of this logger at `level`, stamped `at` (epoch ms, fractional), with message `msg`, one of a few constants. */
  begin(level: EventLevel, at: number, msg: string): void;
  /**
   * Start a line whose message is `before"quoted"after` (an access line's
   * request line); every part is escaped as the format needs, and inside
   * the quotes a quote is escaped too.
   */
  beginQuoted(level: EventLevel, at: number, before: string, quoted: string, after: string): void;
  /** A value known to need no escaping: an event name, a method token, an IP address, an enum. */
  word(key: string, value: string): void;
  /** Any string: escaped (JSON) or quoted when needed (text). */
  str(key: string, value: string): void;
  /** A string or, when absent, null (JSON) / nothing (text). */
  strOrNull(key: string, value: string | undefined): void;
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
  if (!NEEDS_ESCAPE.test(value)) return '"' + value + '"';
  return JSON.stringify(value).replace(C1, c1Escape);
}

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
    tail = ',"msg":' + jsonString(msg) + '}\n';
    if (MSG_TAILS.size < 256) MSG_TAILS.set(msg, tail);
  }
  return tail;
}

/** `value` escaped for the inside of a JSON string (no quotes around). */
function jsonInner(value: string): string {
  return NEEDS_ESCAPE.test(value) ? jsonString(value).slice(1, -1) : value;
}

/** JSON lines: `{"level":"debug","timestamp":"…","logger":"…","worker_id":1,…,"msg":"…"}`. */
export class JsonEventLine implements EventLine {
  private line = '';
  private tail = '';
  private readonly afterTimestamp: string;

  constructor(
    private readonly sink: LineSink,
    logger: string,
    workerId: number | undefined,
  ) {
    this.afterTimestamp = '","logger":' + jsonString(logger) + (workerId === undefined ? '' : ',"worker_id":' + workerId);
  }

  begin(level: EventLevel, at: number, msg: string): void {
    this.line = LEVEL_HEADS[level] + isoTimestamp(at) + this.afterTimestamp;
    this.tail = msgTail(msg);
  }
  beginQuoted(level: EventLevel, at: number, before: string, quoted: string, after: string): void {
    this.line = LEVEL_HEADS[level] + isoTimestamp(at) + this.afterTimestamp;
    this.tail = ',"msg":"' + jsonInner(before) + '\\"' + jsonInner(quoted) + '\\"' + jsonInner(after) + '"}\n';
  }
  word(key: string, value: string): void {
    this.line += ',"' + key + '":"' + value + '"';
  }
  str(key: string, value: string): void {
    this.line += ',"' + key + '":' + jsonString(value);
  }
  strOrNull(key: string, value: string | undefined): void {
    this.line += ',"' + key + '":' + (value === undefined ? 'null' : jsonString(value));
  }
  int(key: string, value: number): void {
    this.line += ',"' + key + '":' + value;
  }
  ms(key: string, value: number): void {
    this.line += ',"' + key + '":' + value;
  }
  bool(key: string, value: boolean): void {
    this.line += ',"' + key + '":' + value;
  }
  end(): void {
    const line = this.line + this.tail;
    this.line = '';
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
export class TextEventLine implements EventLine {
  private line = '';
  private first = true;
  private readonly levels: Record<EventLevel, string>;
  private readonly afterLevel: string;
  private readonly workerField: string;

  constructor(
    private readonly sink: LineSink,
    logger: string,
    workerId: number | undefined,
    color: boolean,
  ) {
    this.levels = {
      debug: textLevel('debug', color),
      info: textLevel('info', color),
      warn: textLevel('warn', color),
      error: textLevel('error', color),
    };
    this.afterLevel = ' ' + logger + ' ';
    this.workerField = workerId === undefined ? '' : 'worker_id=' + workerId;
  }

  begin(level: EventLevel, at: number, msg: string): void {
    this.line = textTime(at) + ' ' + this.levels[level] + this.afterLevel + textMessage(msg);
    this.first = true;
    if (this.workerField !== '') this.field(this.workerField);
  }
  beginQuoted(level: EventLevel, at: number, before: string, quoted: string, after: string): void {
    // Inside the quotes a quote or a backslash is escaped too: the request line stays readable as one token.
    const inner = /["\\\u0000-\u001f\u007f-\u009f]/.test(quoted) ? jsonString(quoted).slice(1, -1) : quoted;
    this.line = textTime(at) + ' ' + this.levels[level] + this.afterLevel + textMessage(before) + '"' + inner + '"' + textMessage(after);
    this.first = true;
    if (this.workerField !== '') this.field(this.workerField);
  }
  private field(pair: string): void {
    this.line += (this.first ? '  ' : ' ') + pair;
    this.first = false;
  }
  word(key: string, value: string): void {
    this.field(key + '=' + value);
  }
  str(key: string, value: string): void {
    this.field(key + '=' + textValue(value));
  }
  strOrNull(key: string, value: string | undefined): void {
    if (value !== undefined) this.field(key + '=' + textValue(value));
  }
  int(key: string, value: number): void {
    this.field(key + '=' + value);
  }
  ms(key: string, value: number): void {
    this.field(key + '=' + (Number.isInteger(value) ? value.toFixed(1) : String(value)));
  }
  bool(key: string, value: boolean): void {
    this.field(key + '=' + value);
  }
  end(): void {
    const line = this.line + '\n';
    this.line = '';
    this.sink.write(line);
  }
}

/**
 * JSON lines written as bytes straight into the log destination's buffer
 * (see LineWriter): the same bytes JsonEventLine makes (a test holds them
 * equal), without making a string — no garbage to collect, nothing to
 * flatten or encode when the buffer is written.
 */
export class JsonByteLine implements EventLine {
  private readonly afterTimestamp: string;
  // The message goes last: kept until end().
  private msg = '';
  private before = '';
  private quoted = '';
  private after = '';
  private quotedMsg = false;

  constructor(
    private readonly sink: ByteSink,
    logger: string,
    workerId: number | undefined,
  ) {
    this.afterTimestamp = '","logger":' + jsonString(logger) + (workerId === undefined ? '' : ',"worker_id":' + workerId);
  }

  begin(level: EventLevel, at: number, msg: string): void {
    this.start(level, at);
    this.msg = msg;
    this.quotedMsg = false;
  }
  beginQuoted(level: EventLevel, at: number, before: string, quoted: string, after: string): void {
    this.start(level, at);
    this.before = before;
    this.quoted = quoted;
    this.after = after;
    this.quotedMsg = true;
  }
  private start(level: EventLevel, at: number): void {
    const sink = this.sink;
    sink.beginLine();
    const second = Math.floor(at / 1000);
    const prefix = secondPrefix(second);
    const micros = Math.floor((at - second * 1000) * 1000);
    const head = LEVEL_HEADS[level];
    const tail = this.afterTimestamp;
    sink.room(head.length + prefix.length + 7 + tail.length);
    const b = sink.buf;
    let p = ascii(b, sink.pos, head);
    p = ascii(b, p, prefix);
    // Six digits of microseconds, then Z.
    for (let d = 100000, n = micros; d >= 1; d /= 10) {
      const digit = Math.floor(n / d);
      b[p++] = 48 + digit;
      n -= digit * d;
    }
    b[p++] = 90; // Z
    sink.pos = ascii(b, p, tail);
  }
  private key(key: string, quote: boolean): void {
    const sink = this.sink;
    sink.room(key.length + 5);
    const b = sink.buf;
    let p = sink.pos;
    b[p++] = 44; // ,
    b[p++] = 34; // "
    p = ascii(b, p, key);
    b[p++] = 34;
    b[p++] = 58; // :
    if (quote) b[p++] = 34;
    sink.pos = p;
  }
  word(key: string, value: string): void {
    this.str(key, value);
  }
  str(key: string, value: string): void {
    this.key(key, true);
    escaped(this.sink, value);
    this.sink.buf[this.sink.pos++] = 34; // room() left one byte for it
  }
  strOrNull(key: string, value: string | undefined): void {
    if (value === undefined) this.raw(key, 'null');
    else this.str(key, value);
  }
  int(key: string, value: number): void {
    this.key(key, false);
    if (Number.isInteger(value) && value >= 0 && value < 1e15) digits(this.sink, value);
    else this.rawValue(String(value));
  }
  ms(key: string, value: number): void {
    this.key(key, false);
    // A duration rounded to microseconds: digits, and up to three decimals, as String(value) would write them.
    const micros = Math.round(value * 1000);
    if (value >= 0 && value < 1e12 && micros / 1000 === value) {
      const whole = Math.floor(micros / 1000);
      digits(this.sink, whole);
      let frac = micros - whole * 1000;
      if (frac !== 0) {
        const sink = this.sink;
        sink.room(4);
        const b = sink.buf;
        let p = sink.pos;
        b[p++] = 46; // .
        for (let d = 100; frac !== 0; d /= 10) {
          const digit = Math.floor(frac / d);
          b[p++] = 48 + digit;
          frac -= digit * d;
        }
        sink.pos = p;
      }
    } else {
      this.rawValue(String(value));
    }
  }
  bool(key: string, value: boolean): void {
    this.raw(key, value ? 'true' : 'false');
  }
  private raw(key: string, value: string): void {
    this.key(key, false);
    this.rawValue(value);
  }
  private rawValue(value: string): void {
    const sink = this.sink;
    sink.room(value.length);
    sink.pos = ascii(sink.buf, sink.pos, value);
  }
  end(): void {
    const sink = this.sink;
    sink.room(8);
    sink.pos = ascii(sink.buf, sink.pos, ',"msg":"');
    if (this.quotedMsg) {
      escaped(sink, this.before);
      sink.room(2);
      sink.buf[sink.pos++] = 92; // \"
      sink.buf[sink.pos++] = 34;
      escaped(sink, this.quoted);
      sink.room(2);
      sink.buf[sink.pos++] = 92;
      sink.buf[sink.pos++] = 34;
      escaped(sink, this.after);
    } else {
      escaped(sink, this.msg);
    }
    sink.room(3);
    const b = sink.buf;
    b[sink.pos++] = 34; // "
    b[sink.pos++] = 125; // }
    b[sink.pos++] = 10; // \n
    sink.endLine();
  }
}

/** Copy an ASCII string's characters into b at p (room already made); returns the new end. */
function ascii(b: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
  return p;
}

/** A non-negative integer's decimal digits. */
function digits(sink: ByteSink, n: number): void {
  sink.room(16);
  const b = sink.buf;
  const start = sink.pos;
  let p = start;
  do {
    const q = Math.floor(n / 10);
    b[p++] = 48 + (n - q * 10);
    n = q;
  } while (n > 0);
  // Written backwards: turn them around.
  for (let i = start, j = p - 1; i < j; i++, j--) {
    const t = b[i]!;
    b[i] = b[j]!;
    b[j] = t;
  }
  sink.pos = p;
}

const HEX = '0123456789abcdef';

/**
 * The inside of a JSON string for `s`, as UTF-8, escaped exactly as
 * jsonString() does (JSON.stringify's escapes, plus DEL and C1 as \u00XX).
 * Leaves room for one more byte (the closing quote).
 */
function escaped(sink: ByteSink, s: string): void {
  // At most 6 bytes per UTF-16 unit (\u00XX; a surrogate pair is 4 bytes for 2 units).
  sink.room(s.length * 6 + 1);
  const b = sink.buf;
  let p = sink.pos;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x7f) {
      if (c >= 0x20) {
        if (c === 34 || c === 92) b[p++] = 92;
        b[p++] = c;
        continue;
      }
      b[p++] = 92;
      switch (c) {
        case 8: b[p++] = 98; break; // \b
        case 9: b[p++] = 116; break; // \t
        case 10: b[p++] = 110; break; // \n
        case 12: b[p++] = 102; break; // \f
        case 13: b[p++] = 114; break; // \r
        default: p = unicodeEscape(b, p - 1, c);
      }
    } else if (c <= 0x9f) {
      p = unicodeEscape(b, p, c); // DEL, C1
    } else if (c < 0x800) {
      b[p++] = 0xc0 | (c >> 6);
      b[p++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        b[p++] = 0xf0 | (cp >> 18);
        b[p++] = 0x80 | ((cp >> 12) & 0x3f);
        b[p++] = 0x80 | ((cp >> 6) & 0x3f);
        b[p++] = 0x80 | (cp & 0x3f);
        i++;
      } else {
        p = unicodeEscape(b, p, c); // a lone surrogate, as JSON.stringify writes it
      }
    } else {
      b[p++] = 0xe0 | (c >> 12);
      b[p++] = 0x80 | ((c >> 6) & 0x3f);
      b[p++] = 0x80 | (c & 0x3f);
    }
  }
  sink.pos = p;
}

/** `\uXXXX` (lower-case hex) at p; returns the new end. */
function unicodeEscape(b: Buffer, p: number, c: number): number {
  b[p++] = 92;
  b[p++] = 117;
  b[p++] = HEX.charCodeAt((c >> 12) & 15);
  b[p++] = HEX.charCodeAt((c >> 8) & 15);
  b[p++] = HEX.charCodeAt((c >> 4) & 15);
  b[p++] = HEX.charCodeAt(c & 15);
  return p;
}
