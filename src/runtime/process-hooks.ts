import type { Loggers } from '../observability/logger.js';

/**
 * An uncaught exception or unhandled rejection is logged (one fatal line) and
 * ends the process with status 1; whatever ends the process, the last tick's
 * log lines are written.
 */
export function installCrashHandlers(loggers: Loggers): void {
  const crash = (err: unknown, kind: string) => {
    loggers.server.fatal({ err, event: 'Crashed' }, `${kind}: ${(err as Error)?.message ?? String(err)}`);
    loggers.flush();
    process.exit(1);
  };
  process.on('uncaughtException', (err) => crash(err, 'uncaught exception'));
  process.on('unhandledRejection', (err) => crash(err, 'unhandled rejection'));
  process.on('exit', () => loggers.flush());
}
