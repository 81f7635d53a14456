import { forwardedAllowIpsError } from '../server/forwarded.js';
import {
  OPTIONS,
  OPTION_NAMES,
  acceptedValues,
  cliFlag,
  envVar,
  type OptionName,
  type OptionSpec,
  type ServerOptions,
  type ServerOptionsInput,
} from './options.js';
import { ConfigError, didYouMean } from './errors.js';

/** Environment variables that belong to pounce but are not options. */
const NON_OPTION_ENV = new Set(['POUNCE_APP', 'POUNCE_WORKER_ID', 'POUNCE_WORKER_COUNT', 'POUNCE_WORKER_EPOCH']);

export type Source = 'default' | 'env' | 'cli' | 'programmatic';

export interface ResolveSources {
  /** Environment to read `POUNCE_*` from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Values from the command line (raw strings or already-typed values). */
  cli?: Record<string, unknown>;
}

/**
 * The server's configuration, resolved and validated once, then frozen.
 * Precedence: defaults < env < CLI < programmatic (the constructor argument).
 */
// Declaration merging gives the class one typed property per option.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ServerConfig extends ServerOptions {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ServerConfig {
  /** Where each value came from; handy for the startup banner and debugging. */
  declare readonly sources: Readonly<Record<OptionName, Source>>;

  constructor(input: ServerOptionsInput | ServerConfig = {}, sources: ResolveSources = {}) {
    if (input instanceof ServerConfig) {
      Object.assign(this, input.toJSON());
      Object.defineProperty(this, 'sources', { value: input.sources, enumerable: false });
      Object.freeze(this);
      return;
    }
    const values: Record<string, unknown> = {};
    const origin: Record<string, Source> = {};
    for (const name of OPTION_NAMES) {
      values[name] = OPTIONS[name].default;
      origin[name] = 'default';
    }
    const apply = (raw: Record<string, unknown>, source: Source, label: (name: OptionName) => string) => {
      for (const [key, value] of Object.entries(raw)) {
        if (value === undefined) continue;
        const name = key as OptionName;
        if (!(name in OPTIONS)) throw unknownOption(key, source);
        values[name] = coerce(name, value, label(name));
        origin[name] = source;
      }
    };
    apply(readEnv(sources.env ?? process.env), 'env', envVar);
    apply(sources.cli ?? {}, 'cli', cliFlag);
    apply(input as Record<string, unknown>, 'programmatic', (n) => n);
    checkTogether(values);
    Object.assign(this, values);
    Object.defineProperty(this, 'sources', { value: Object.freeze(origin), enumerable: false });
    Object.freeze(this);
  }

  toJSON(): ServerOptions {
    const out: Record<string, unknown> = {};
    for (const name of OPTION_NAMES) out[name] = (this as unknown as Record<string, unknown>)[name];
    return out as ServerOptions;
  }
}

/** Rules that involve more than one option. */
function checkTogether(values: Record<string, unknown>): void {
  const header = values.headerTimeout as number;
  const request = values.requestTimeout as number;
  if (request > 0 && request < header) {
    throw new ConfigError(
      `requestTimeout (${request} s) must be 0 (no limit) or at least headerTimeout (${header} s): a whole request cannot arrive faster than its head`,
      'requestTimeout',
    );
  }
}

function readEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const byVar = new Map(OPTION_NAMES.map((name) => [envVar(name), name] as const));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('POUNCE_') || NON_OPTION_ENV.has(key) || value === undefined) continue;
    const name = byVar.get(key);
    if (!name) {
      const hint = didYouMean(key, [...byVar.keys()]);
      throw new ConfigError(`unknown environment variable ${key}${hint ? ` — did you mean ${hint}?` : ''}`);
    }
    // An empty variable means "not set", the way shells and Helm templates produce it.
    if (value === '') continue;
    out[name] = value;
  }
  return out;
}

function unknownOption(key: string, source: Source): ConfigError {
  const camel = key.replace(/[_-]([a-z])/g, (_, c: string) => c.toUpperCase()).replace(/^--?/, '');
  const hint = (OPTION_NAMES as string[]).includes(camel) ? camel : didYouMean(key, OPTION_NAMES);
  const where = source === 'programmatic' ? 'ServerConfig' : source;
  return new ConfigError(`unknown option "${key}" in ${where}${hint ? ` — did you mean ${hint}?` : ''}`);
}

function invalid(name: OptionName, label: string, value: unknown, spec: OptionSpec): ConfigError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new ConfigError(`invalid value ${shown} for ${label} — expected ${acceptedValues(spec)}`, name);
}

/** Turn a raw value (string from env/CLI, typed from code) into a valid typed one. */
export function coerce(name: OptionName, value: unknown, label: string = name): unknown {
  const spec: OptionSpec = OPTIONS[name];
  switch (spec.kind) {
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') {
        const v = value.trim().toLowerCase();
        if (['true', '1', 'yes', 'on'].includes(v)) return true;
        if (['false', '0', 'no', 'off'].includes(v)) return false;
      }
      throw invalid(name, label, value, spec);
    }
    case 'seconds':
    case 'integer': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      const whole = spec.kind === 'integer' ? Number.isInteger(n) : Number.isFinite(n);
      const zeroOk = n === 0 && spec.zeroMeans !== undefined;
      if (!whole || (!zeroOk && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw invalid(name, label, value, spec);
      }
      return n;
    }
    case 'enum': {
      if (typeof value !== 'string') throw invalid(name, label, value, spec);
      const v = value.trim().toLowerCase();
      const canonical = spec.aliases?.[v] ?? v;
      if (!spec.values.includes(canonical)) throw invalid(name, label, value, spec);
      return canonical;
    }
    case 'path': {
      if (typeof value !== 'string' || !value.startsWith('/') || /[\s?#]/.test(value)) throw invalid(name, label, value, spec);
      return value;
    }
    case 'url': {
      if (typeof value !== 'string') throw invalid(name, label, value, spec);
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw invalid(name, label, value, spec);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(name, label, value, spec);
      return value.replace(/\/+$/, '');
    }
    case 'host': {
      if (typeof value !== 'string' || value.trim() === '' || /[\s/]/.test(value)) throw invalid(name, label, value, spec);
      return value.trim();
    }
    case 'string': {
      if (typeof value !== 'string') throw invalid(name, label, value, spec);
      return value;
    }
    case 'addresses': {
      if (typeof value !== 'string' || value.trim() === '' || forwardedAllowIpsError(value) !== undefined) throw invalid(name, label, value, spec);
      return value.split(',').map((s) => s.trim()).filter(Boolean).join(',');
    }
  }
}
