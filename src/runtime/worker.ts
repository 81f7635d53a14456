import { AppLoadError } from '../app/errors.js';
import { loadAppModule } from '../app/load.js';
import type { LoadedApp } from '../app/types.js';
import { parseCommandLine } from '../config/cli.js';
import { ConfigError } from '../config/errors.js';
import { ServerConfig } from '../config/server-config.js';
import { sharedFdWriterOptions } from '../observability/line-writer.js';
import { captureAppOutput } from '../observability/app-output.js';
import { createLoggers, type Loggers } from '../observability/logger.js';
import {
  WORKER_ENV,
  firstConnectionId,
  isSupervisorMessage,
  withoutWorkerEnv,
  type DrainMode,
  type WorkerMessage,
} from './cluster-protocol.js';
import { installCrashHandlers } from './process-hooks.js';
import { serve, type PounceServer } from './serve.js';
import { VERSION } from './startup-info.js';

/** True in a process forked by pounce's supervisor. */
export function isPounceWorker(): boolean {
  return typeof process.send === 'function' && process.env[WORKER_ENV.id] !== undefined;
}

/**
 * One worker of the supervisor (see supervisor.ts): same command line and
 * environment as the supervisor, plus its slot. It loads the app, serves it on
 * the shared port, and drains only when the supervisor says so.
 *
 * Signals: a terminal's Ctrl-C sends SIGINT to the whole foreground process
 * group, and a hangup sends SIGHUP to it; the supervisor gets them too and
 * decides (drain everything, or roll the workers one at a time). So workers
 * ignore SIGINT and SIGHUP. SIGTERM sent to a worker alone (an operator, a
 * process-group kill) drains that worker like the supervisor's instruction; a
 * second SIGTERM exits at once. If the supervisor dies, node:cluster ends the
 * worker (its IPC channel closes).
 *
 * Logs: the worker writes its own lines straight to the inherited fd 1 (see
 * sharedFdWriterOptions: whole lines, each write(2) at most PIPE_BUF bytes
 * when fd 1 is a pipe or socket, so lines of different workers never mix).
 */
export async function runWorker(argv: string[]): Promise<void> {
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  const slot = Number(process.env[WORKER_ENV.id]);
  const count = Number(process.env[WORKER_ENV.count]);
  const epoch = Number(process.env[WORKER_ENV.epoch] ?? 0);

  let server: PounceServer | undefined;
  let loggers: Loggers | undefined;
  let app: LoadedApp | undefined;
  let requested: DrainMode | undefined;
  let draining = false;

  const drain = (mode: DrainMode) => {
    if (!server || !loggers) {
      requested ??= mode;
      return;
    }
    if (draining) return;
    draining = true;
    const log = loggers;
    server
      .close({
        drainDelay: mode === 'restart' ? 0 : undefined,
        onProgress: (connectionIds) => send({ pounce: 'draining', connectionIds }),
      })
      .then(
        () => exit(0, log),
        (err: unknown) => {
          log.server.error({ err }, 'shutdown failed');
          exit(1, log);
        },
      );
  };

  process.on('message', (msg: unknown) => {
    if (!isSupervisorMessage(msg)) return;
    if (msg.pounce === 'drain') drain(msg.mode);
    else if (msg.pounce === 'exit') exit(0, loggers);
  });
  let terminated = false;
  process.on('SIGTERM', () => {
    if (terminated) {
      loggers?.server.warn({ event: 'ShutdownForced', signal: 'SIGTERM' }, 'second SIGTERM: exiting now');
      exit(143, loggers);
    }
    terminated = true;
    drain('shutdown');
  });

  try {
    const parsed = parseCommandLine(argv, VERSION);
    if (!parsed) return exit(0, undefined);
    const config = new ServerConfig({}, { cli: parsed.options, env: withoutWorkerEnv(process.env) });
    loggers = createLoggers({ format: config.logFormat, level: config.logLevel, workerId: slot, writer: sharedFdWriterOptions(1) });
    installCrashHandlers(loggers);
    const spec = parsed.app ?? process.env.POUNCE_APP;
    if (!spec) throw new ConfigError('no app given: pounce ./app.js[:export] (or set POUNCE_APP); see pounce --help');
    // The app's stdout and console join the log stream (JSON lines in json format) before it loads.
    captureAppOutput(loggers);
    app = await loadAppModule(spec, config.interface, loggers.app);
    server = await serve(app, config, {
      loggers,
      workerId: slot,
      workerCount: count,
      firstConnectionId: firstConnectionId(slot, count, epoch),
      handleSignals: false,
      role: 'worker',
    });
  } catch (err) {
    // The supervisor reports a failed start once for the whole server: say why, and go.
    const usage = err instanceof ConfigError || err instanceof AppLoadError;
    const message = usage ? (err as Error).message : `failed to start: ${(err as Error).stack ?? String(err)}`;
    const exitCode = usage ? 2 : 1;
    if (!(await send({ pounce: 'startup-failed', message, exitCode }))) {
      loggers?.server.error({ event: 'StartupFailed' }, message);
    }
    return exit(exitCode, loggers);
  }
  const address = server.server.address();
  // WorkerStarted reaches fd 1 before the supervisor can print ServerStarted.
  loggers.flush();
  send({
    pounce: 'listening',
    host: typeof address === 'object' && address ? address.address : server.config.host,
    port: server.port,
    url: server.url,
    app: app?.description ?? '',
    interface: app?.interface ?? server.config.interface,
  });
  if (requested) drain(requested);
}

function send(message: WorkerMessage): Promise<boolean> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve(false);
    process.send(message, undefined, {}, (err) => resolve(!err));
  });
}

function exit(code: number, loggers: Loggers | undefined): never {
  loggers?.flush();
  process.exit(code);
}
