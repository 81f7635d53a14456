#!/usr/bin/env node
import { parseCommandLine } from './config/cli.js';
import { ServerConfig } from './config/server-config.js';
import { ConfigError } from './config/errors.js';
import { AppLoadError } from './app/errors.js';
import { loadAppModule } from './app/load.js';
import { sharedFdWriterOptions } from './observability/line-writer.js';
import { captureAppOutput } from './observability/app-output.js';
import { createLoggers, type Loggers } from './observability/logger.js';
import { withoutWorkerEnv } from './runtime/cluster-protocol.js';
import { installCrashHandlers } from './runtime/process-hooks.js';
import { serve } from './runtime/serve.js';
import { VERSION } from './runtime/startup-info.js';
import { resolveWorkerCount, runSupervisor } from './runtime/supervisor.js';
import { isPounceWorker, runWorker } from './runtime/worker.js';

/** Exit status for a start that failed because of what the user gave us. */
const EXIT_USAGE = 2;

/** Set once the configuration is known: errors are then reported in its format. */
let jsonLogs = false;

async function main(argv: string[]): Promise<void> {
  if (isPounceWorker()) return runWorker(argv);
  let loggers: Loggers | undefined;
  try {
    const parsed = parseCommandLine(argv, VERSION);
    if (!parsed) return;
    const config = new ServerConfig({}, { cli: parsed.options, env: withoutWorkerEnv(process.env) });
    jsonLogs = config.logFormat === 'json';
    const workers = resolveWorkerCount(config.workers);
    // With workers, several processes write to fd 1: see sharedFdWriterOptions.
    loggers = workers > 1
      ? createLoggers({ format: config.logFormat, level: config.logLevel, workerId: undefined, writer: sharedFdWriterOptions(1) })
      : createLoggers({ format: config.logFormat, level: config.logLevel, workerId: 1 });
    installCrashHandlers(loggers);
    const spec = parsed.app ?? process.env.POUNCE_APP;
    if (!spec) throw new ConfigError('no app given: pounce ./app.js[:export] (or set POUNCE_APP); see pounce --help');
    if (workers > 1) {
      // The supervisor never loads the app: its workers do (see runtime/supervisor.ts).
      runSupervisor({ config, workers, loggers });
      return;
    }
    // The app's stdout and console join the log stream (JSON lines in json format) before it loads.
    captureAppOutput(loggers);
    const app = await loadAppModule(spec, config.interface, loggers.app);
    await serve(app, config, { loggers });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AppLoadError) {
      reportStartupError(err.message, loggers);
      process.exit(EXIT_USAGE);
    }
    reportStartupError(`failed to start: ${(err as Error).stack ?? String(err)}`, loggers);
    process.exit(1);
  }
}

/**
 * One line on stderr. In JSON mode (or when the format itself was the bad
 * option but the environment asks for json) it is a JSON line, so that a log
 * shipper never meets a stray text line.
 */
function reportStartupError(message: string, loggers: Loggers | undefined): void {
  if (loggers && jsonLogs) {
    loggers.server.error({ event: 'StartupFailed' }, message);
    loggers.flush();
    return;
  }
  const wantsJson =
    jsonLogs || process.env.POUNCE_LOG_FORMAT === 'json' || process.argv.some((a, i, all) => a === '--log-format=json' || (a === '--log-format' && all[i + 1] === 'json'));
  if (wantsJson) {
    process.stderr.write(
      JSON.stringify({ level: 'error', timestamp: new Date().toISOString(), logger: 'pounce.server', event: 'StartupFailed', msg: message }) + '\n',
    );
  } else {
    process.stderr.write(`pounce: ${message}\n`);
  }
}

void main(process.argv.slice(2));
