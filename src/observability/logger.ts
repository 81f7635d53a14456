import { isatty } from 'node:tty';
import { pino, type Logger, type DestinationStream } from 'pino';
import { isoTimestamp, nowMs } from './clock.js';
import { JsonEventLine, TextEventLine, quotesAsPercent, type EventLevel, type EventLine, type Repeated } from './event-line.js';
import { LineWriter, type LineWriterOptions } from './line-writer.js';
import { TextDestination } from './text-format.js';
import { escapeControls } from '../server/path.js';

export type LogFormat = 'text' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * Loggers of the server, one per concern; each line carries `logger` so that
 * shippers can route on it.
 */
export interface Loggers {
  root: Logger;
  server: Logger;
  lifecycle: Logger;
  access: Logger;
  app: Logger;
  readonly format: LogFormat;
  /** Write every line logged so far, now (exit, crash, signal). */
  flush(): void;
  /** Run `hook` first on every flush (a holder of unfinished lines completes them); returns an undo. */
  beforeFlush(hook: () => void): () => void;
  /** Flush; the loggers still work afterwards. */
  close(): void;
  /** The destination every line of these loggers goes through, in order (the app's captured output too). */
  readonly destination: { write(line: string): unknown; flushSync?(): void };
}

function timestamp(): string {
  return ',"timestamp":"' + isoTimestamp(nowMs()) + '"';
}

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Bound as `worker_id` on every line; undefined for the supervisor, which is no worker. */
  workerId: number | undefined;
  fd?: number;
  writer?: LineWriterOptions;
  /** Where lines go instead of a file descriptor (tests, embedding). */
  destination?: DestinationStream & { flushSync?(): void };
  /** Color the level in the text format (default: when the fd is a terminal and NO_COLOR is unset). */
  color?: boolean;
}

/**
 * The hand-built line writer of a logger made by createLoggers (lifecycle,
 * access): same format, same destination, same order as the logger's own
 * lines, with none of pino's generic work. See eventLineFor().
 */
const eventLines = new WeakMap<Logger, EventLine>();

export function createLoggers(options: LoggerOptions): Loggers {
  const fd = options.fd ?? 1;
  const writer = options.destination ?? new LineWriter(fd, options.writer);
  const color = options.format === 'text' && (options.color ?? (!process.env.NO_COLOR && isatty(fd) && !options.destination));
  const destination = options.format === 'text' ? new TextDestination(writer, color) : writer;
  const root = pino(
    {
      level: options.level,
      base: null,
      messageKey: 'msg',
      timestamp,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  const child = (name: string) => {
    const logger = root.child(options.workerId === undefined ? { logger: name } : { logger: name, worker_id: options.workerId });
    eventLines.set(
      logger,
      options.format === 'text'
        ? new TextEventLine(writer, name, options.workerId, color)
        : new JsonEventLine(writer, name, options.workerId),
    );
    return logger;
  };
  const hooks: Array<() => void> = [];
  const flush = () => {
    for (const hook of hooks) hook();
    writer.flushSync?.();
  };
  return {
    root,
    server: child('pounce.server'),
    lifecycle: child('pounce.lifecycle'),
    access: child('pounce.access'),
    app: child('pounce.app'),
    format: options.format,
    destination: writer,
    flush,
    close: flush,
    beforeFlush: (hook) => {
      hooks.push(hook);
      return () => void hooks.splice(hooks.indexOf(hook) >>> 0, 1);
    },
  };
}

/**
 * The fixed-field line writer for `logger`: the one createLoggers made for it,
 * or, for any other pino logger, one that hands the fields to the logger.
 */
export function eventLineFor(logger: Logger): EventLine {
  return eventLines.get(logger) ?? new PinoEventLine(logger);
}

/** EventLine over a plain pino logger (a field object per line: the slow path, for loggers pounce did not make). */
class PinoEventLine implements EventLine {
  private fields: Record<string, unknown> = {};
  private level: EventLevel = 'info';
  private msg = '';
  constructor(private readonly logger: Logger) {}
  begin(level: EventLevel, _at: number, msg: string): void {
    this.fields = {};
    this.level = level;
    this.msg = msg;
  }
  beginRequestLine(
    level: EventLevel,
    at: number,
    _memo: Repeated,
    clientAddr: string,
    clientPort: number,
    method: string,
    path: string,
    httpVersion: string,
    status: number,
  ): void {
    this.begin(level, at, `${clientAddr}:${clientPort} - "${method} ${quotesAsPercent(path)} HTTP/${httpVersion}" ${status}`);
  }
  /** Every field goes in the field object each time: nothing is rendered here to reuse. */
  repeat(): boolean {
    return false;
  }
  endRepeat(): void {}
  word(key: string, value: string): void {
    this.fields[key] = value;
  }
  str(key: string, value: string): void {
    this.fields[key] = value;
  }
  strOrNull(key: string, value: string | undefined): void {
    this.fields[key] = value ?? null;
  }
  clientTextOrNull(key: string, value: string | undefined): void {
    this.fields[key] = value === undefined ? null : escapeControls(value);
  }
  int(key: string, value: number): void {
    this.fields[key] = value;
  }
  ms(key: string, value: number): void {
    this.fields[key] = value;
  }
  bool(key: string, value: boolean): void {
    this.fields[key] = value;
  }
  end(): void {
    this.logger[this.level](this.fields, this.msg);
  }
}
