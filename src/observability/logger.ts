import { pino, type Logger, type DestinationStream } from 'pino';
import { isoTimestamp, nowMs } from './clock.js';
import { LineWriter, type LineWriterOptions } from './line-writer.js';
import { TextDestination } from './text-format.js';

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
  flush(): void;
  /** Flush and stop the log writer thread (the loggers still work, writing synchronously). */
  close(): void;
}

/**
 * The time of the event being logged. Set it just before a log call to stamp
 * the line with an instant already read (a request's start or finish) instead
 * of reading the clock again; it is consumed by that one line.
 */
export const eventTime = { at: 0 };

function timestamp(): string {
  const at = eventTime.at || nowMs();
  eventTime.at = 0;
  return ',"timestamp":"' + isoTimestamp(at) + '"';
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
}

export function createLoggers(options: LoggerOptions): Loggers {
  const writer = options.destination ?? new LineWriter(options.fd ?? 1, options.writer);
  const destination = options.format === 'text' ? new TextDestination(writer) : writer;
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
  const child = (name: string) =>
    root.child(options.workerId === undefined ? { logger: name } : { logger: name, worker_id: options.workerId });
  return {
    root,
    server: child('pounce.server'),
    lifecycle: child('pounce.lifecycle'),
    access: child('pounce.access'),
    app: child('pounce.app'),
    flush: () => writer.flushSync?.(),
    close: () => (writer instanceof LineWriter ? writer.close() : writer.flushSync?.()),
  };
}
