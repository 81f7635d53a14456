/**
 * The app's own output on stdout, joined to pounce's log stream.
 *
 * JSON format: every stdout line must be JSON. The app's `console.*` calls
 * become `pounce.app` lines at their level (error, warn → error, warn; log,
 * info, dir, table… → info; debug, trace → debug), and what it writes to
 * `process.stdout` directly becomes info lines, one per line of text. Inside a
 * request they carry the request's ids (they are written through
 * `currentRequest().log`, see app/context.ts). A write without a newline is
 * held until its line is complete (or at exit), so it never glues itself to a
 * pounce line.
 *
 * Text format: the app's stdout passes through as it is, but whole lines
 * only, through the same destination as pounce's lines (so in order with
 * them). console.error/warn keep going to stderr.
 *
 * Either way the lines go through the one log destination, in the order they
 * were made. Only the CLI installs this (the process is pounce's); serve()
 * called from a program leaves that program's console alone.
 */
import { Buffer } from 'node:buffer';
import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { format, inspect, type InspectOptions } from 'node:util';
import { isatty } from 'node:tty';
import type { Logger } from 'pino';
import { currentRequest } from '../app/context.js';
import type { Loggers } from './logger.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

/** A line held without its newline longer than this is written as it is (memory stays bounded). */
const MAX_PARTIAL = 64 * 1024;

const CONSOLE_LEVELS: Array<[keyof Console, Level]> = [
  ['log', 'info'],
  ['info', 'info'],
  ['debug', 'debug'],
  ['trace', 'debug'],
  ['warn', 'warn'],
  ['error', 'error'],
];

/** Route the app's stdout (and, in JSON format, its console) into `loggers`' destination. Returns an undo. */
export function captureAppOutput(loggers: Loggers): () => void {
  const json = loggers.format === 'json';
  const appLogger = loggers.app;
  const emitLine = json
    ? (text: string) => requestLogger(appLogger).info(text)
    : (text: string) => void loggers.destination.write(text + '\n');

  // Direct writes to process.stdout: cut into lines; the tail without a newline waits.
  let partial = '';
  const decoder = new StringDecoder('utf8');
  const takeChunk = (chunk: unknown, encoding?: BufferEncoding): void => {
    const text =
      typeof chunk === 'string'
        ? encoding && encoding !== 'utf8' && encoding !== 'utf-8'
          ? decoder.write(Buffer.from(chunk, encoding))
          : chunk
        : decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = partial + text.slice(start, nl);
      partial = '';
      emitLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = nl + 1;
    }
    partial += text.slice(start);
    if (partial.length > MAX_PARTIAL) flushPartial();
  };
  const flushPartial = (): void => {
    partial += decoder.end();
    if (partial === '') return;
    const line = partial;
    partial = '';
    emitLine(line);
  };

  const stdout = new CapturedStdout(takeChunk, !json && isatty(1));
  const previousStdout = Object.getOwnPropertyDescriptor(process, 'stdout');
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => stdout });

  // console.* : in JSON format each call is one line at its level; in text format
  // console.log and friends go through the captured stdout (whole lines), warn/error stay on stderr.
  const saved = new Map<keyof Console, unknown>();
  for (const [method, level] of CONSOLE_LEVELS) {
    if (!json && (level === 'warn' || level === 'error' || method === 'trace')) continue;
    saved.set(method, console[method]);
    const write = json
      ? (...args: unknown[]) => void requestLogger(appLogger)[level](format(...args))
      : (...args: unknown[]) => takeChunk(format(...args) + '\n');
    (console as unknown as Record<string, unknown>)[method] =
      method === 'trace'
        ? (...args: unknown[]) => {
            const err = new Error(format(...args));
            err.name = 'Trace';
            write(err.stack ?? err.message);
          }
        : write;
  }
  // console.dir writes to the stream itself, not through console.log.
  const dir = console.dir;
  console.dir = (item: unknown, options?: InspectOptions) => console.log(inspect(item, { ...options, colors: false }));

  const unhookFlush = loggers.beforeFlush(flushPartial);
  return () => {
    flushPartial();
    unhookFlush();
    for (const [method, fn] of saved) (console as unknown as Record<string, unknown>)[method] = fn;
    console.dir = dir;
    if (previousStdout) Object.defineProperty(process, 'stdout', previousStdout);
  };
}

/** The current request's logger (bound to its ids) inside a request; the app logger outside one. */
function requestLogger(appLogger: Logger): Logger {
  return currentRequest()?.log ?? appLogger;
}

/** What `process.stdout` is while captured: a stream whose every write is taken at once, in order. */
class CapturedStdout extends Writable {
  readonly fd = 1;

  constructor(
    private readonly take: (chunk: unknown, encoding?: BufferEncoding) => void,
    readonly isTTY: boolean,
  ) {
    super({ decodeStrings: false });
  }

  // Taken synchronously, never queued: a write is in the log stream before the next line of code runs.
  override write(chunk: unknown, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    this.take(chunk, encoding);
    if (cb) process.nextTick(cb, null);
    return true;
  }

  override _write(chunk: unknown, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.take(chunk, encoding);
    cb();
  }
}
