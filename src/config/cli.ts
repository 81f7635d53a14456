import { Command, Option } from 'commander';
import { OPTIONS, OPTION_NAMES, acceptedValues, cliFlag, envVar, type OptionName, type OptionSpec } from './options.js';
import { ConfigError, didYouMean } from './errors.js';

export interface ParsedCommandLine {
  /** `./app.js[:export]`, or undefined when POUNCE_APP is expected to name it. */
  app: string | undefined;
  /** Option values given on the command line, raw (validated by ServerConfig). */
  options: Record<string, unknown>;
}

/** Build the `pounce` command from the option table. */
export function buildCommand(version: string): Command {
  const program = new Command('pounce')
    .description('Serve a Node.js app (fetch handler or (req, res) listener) with lifecycle logging, tracing and graceful shutdown.')
    .version(version, '-V, --version')
    .argument('[app]', 'module to serve, as ./app.js or ./app.js:exportName (default export by default); env POUNCE_APP')
    .helpOption('-h, --help')
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    .configureOutput({ outputError: () => {} })
    .exitOverride();
  for (const name of OPTION_NAMES) {
    const spec: OptionSpec = OPTIONS[name];
    const help = `${spec.description} [${acceptedValues(spec)}; env ${envVar(name)}; default ${formatDefault(name)}]`;
    if (spec.kind === 'boolean') {
      program.addOption(new Option(cliFlag(name), help));
      program.addOption(new Option(cliFlag(name).replace(/^--/, '--no-')).hideHelp());
    } else {
      program.addOption(new Option(`${cliFlag(name)} <${spec.placeholder ?? 'VALUE'}>`, help));
    }
  }
  return program;
}

export function formatDefault(name: OptionName): string {
  const value = OPTIONS[name].default;
  return value === undefined ? 'unset' : String(value);
}

/**
 * Parse argv (without node and script). Throws ConfigError with one line on a
 * bad flag; returns undefined when --help or --version was printed.
 */
export function parseCommandLine(argv: string[], version: string): ParsedCommandLine | undefined {
  const program = buildCommand(version);
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return undefined;
    throw new ConfigError(commanderMessage(e.message ?? String(err), argv));
  }
  const raw = program.opts<Record<string, unknown>>();
  const options: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) if (raw[name] !== undefined) options[name] = raw[name];
  return { app: program.args[0], options };
}

function commanderMessage(message: string, argv: string[]): string {
  const text = message.replace(/^error: /, '').split('\n')[0]!;
  const unknown = /unknown option '([^']+)'/.exec(text);
  if (unknown) {
    const flag = unknown[1]!.split('=')[0]!;
    const flags = OPTION_NAMES.map(cliFlag);
    const hint = didYouMean(flag, flags);
    return `unknown option ${flag}${hint ? ` — did you mean ${hint}?` : ''} (see pounce --help)`;
  }
  void argv;
  return text;
}
