#!/usr/bin/env node
import { parseCommandLine } from './config/cli.js';
import { ServerConfig } from './config/server-config.js';
import { ConfigError } from './config/errors.js';
import { AppLoadError } from './app/errors.js';
import { loadAppModule } from './app/load.js';
import { createLoggers, type Loggers } from './observability/logger.js';
import { serve } from './runtime/serve.js';
import { VERSION } from './runtime/startup-info.js';

/** Exit status for a start that failed because of what the user gave us. */
const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<void> {
  let loggers: Loggers | undefined;
  try {
    const parsed = parseCommandLine(argv, VERSION);
    if (!parsed) return;
    const config = new ServerConfig({}, { cli: parsed.options });
    loggers = createLoggers({ format: config.logFormat, level: config.logLevel, workerId: 1 });
    installCrashHandlers(loggers);
    const spec = parsed.app ?? process.env.POUNCE_APP;
    if (!spec) throw new ConfigError('no app given: pounce ./app.js[:export] (or set POUNCE_APP); see pounce --help');
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
  if (loggers) {
    loggers.server.error({ event: 'StartupFailed' }, message);
    loggers.flush();
    return;
  }
  const wantsJson = process.env.POUNCE_LOG_FORMAT === 'json' || process.argv.some((a, i, all) => a === '--log-format=json' || (a === '--log-format' && all[i + 1] === 'json'));
  if (wantsJson) {
    process.stderr.write(
      JSON.stringify({ level: 'error', timestamp: new Date().toISOString(), logger: 'pounce.server', event: 'StartupFailed', msg: message }) + '\n',
    );
  } else {
    process.stderr.write(`pounce: ${message}\n`);
  }
}

function installCrashHandlers(loggers: Loggers): void {
  const crash = (err: unknown, kind: string) => {
    loggers.server.fatal({ err, event: 'Crashed' }, `${kind}: ${(err as Error)?.message ?? String(err)}`);
    loggers.flush();
    process.exit(1);
  };
  process.on('uncaughtException', (err) => crash(err, 'uncaught exception'));
  process.on('unhandledRejection', (err) => crash(err, 'unhandled rejection'));
  // Whatever ends the process normally, the last tick's lines are written.
  process.on('exit', () => loggers.flush());
}

void main(process.argv.slice(2));
