/**
 * The option table: the single source of truth for every server option.
 *
 * The TypeScript type (`ServerOptions`), validation, CLI flags, `POUNCE_*`
 * environment variables, `pounce --help` and the README reference are all
 * derived from this table. Adding an option here adds it everywhere.
 */

export type OptionKind = 'boolean' | 'seconds' | 'integer' | 'string' | 'enum' | 'path' | 'url' | 'host' | 'addresses';

interface OptionSpecBase {
  /** The seed page's snake_case name; accepted only as a did-you-mean hint. */
  readonly seedName: string;
  readonly description: string;
  /** Value placeholder shown in --help (e.g. SECONDS). */
  readonly placeholder?: string;
  readonly group: 'server' | 'logging' | 'timeouts' | 'limits' | 'tracing';
}

export interface BooleanOption extends OptionSpecBase {
  readonly kind: 'boolean';
  readonly default: boolean;
}
export interface NumberOption extends OptionSpecBase {
  readonly kind: 'seconds' | 'integer';
  readonly default: number;
  readonly min: number;
  readonly max?: number;
  /** Shown in help: what 0 means, when 0 is special. */
  readonly zeroMeans?: string;
}
export interface StringOption extends OptionSpecBase {
  readonly kind: 'string' | 'path' | 'url' | 'host' | 'addresses';
  readonly default: string | undefined;
}
export interface EnumOption extends OptionSpecBase {
  readonly kind: 'enum';
  readonly default: string;
  readonly values: readonly string[];
  /** Accepted spellings that normalise to a canonical value. */
  readonly aliases?: Readonly<Record<string, string>>;
}
export type OptionSpec = BooleanOption | NumberOption | StringOption | EnumOption;

const KiB = 1024;
const MiB = 1024 * KiB;

export const OPTIONS = {
  host: {
    kind: 'host',
    seedName: 'host',
    group: 'server',
    default: '127.0.0.1',
    placeholder: 'HOST',
    description: 'Address to bind (0.0.0.0 for all IPv4 interfaces, :: for all IPv6).',
  },
  port: {
    kind: 'integer',
    seedName: 'port',
    group: 'server',
    default: 8000,
    min: 0,
    max: 65535,
    placeholder: 'PORT',
    zeroMeans: 'an ephemeral port chosen by the OS',
    description: 'TCP port to listen on.',
  },
  forwardedAllowIps: {
    kind: 'addresses',
    seedName: 'forwarded_allow_ips',
    group: 'server',
    default: undefined,
    placeholder: 'IPS',
    description:
      "Proxies whose Forwarded / X-Forwarded-For / X-Forwarded-Proto headers are believed for the client's address and scheme (logs, spans); unset believes none.",
  },
  workers: {
    kind: 'integer',
    seedName: 'workers',
    group: 'server',
    default: 1,
    min: 0,
    max: 1024,
    placeholder: 'N',
    zeroMeans: 'one worker per CPU',
    description: 'Number of worker processes.',
  },
  interface: {
    kind: 'enum',
    seedName: 'interface',
    group: 'server',
    default: 'auto',
    values: ['auto', 'fetch', 'node'],
    description: 'App interface: fetch handler, Node (req, res) listener, or detect.',
  },
  healthCheckPath: {
    kind: 'path',
    seedName: 'health_check_path',
    group: 'server',
    default: undefined,
    placeholder: 'PATH',
    description: 'Path answered by pounce itself for probes; never logged or traced.',
  },
  healthCheckPassthrough: {
    kind: 'boolean',
    seedName: 'health_check_passthrough',
    group: 'server',
    default: false,
    description: 'Let the app answer the health path (still unlogged unless it fails with a 5xx).',
  },
  metricsPath: {
    kind: 'path',
    seedName: 'metrics_path',
    group: 'server',
    default: undefined,
    placeholder: 'PATH',
    description: 'Path answered with Prometheus metrics (requests, durations, connections by close reason); unset means no metrics.',
  },
  lifecycleLogging: {
    kind: 'boolean',
    seedName: 'lifecycle_logging',
    group: 'logging',
    default: false,
    description: 'Emit structured connection/request lifecycle events (logger pounce.lifecycle).',
  },
  logFormat: {
    kind: 'enum',
    seedName: 'log_format',
    group: 'logging',
    default: 'text',
    values: ['text', 'json'],
    description: 'Format of every line pounce prints: text for people, json for log shippers.',
  },
  logLevel: {
    kind: 'enum',
    seedName: 'log_level',
    group: 'logging',
    default: 'info',
    values: ['debug', 'info', 'warn', 'error'],
    aliases: { warning: 'warn' },
    description: 'Lowest level printed; info keeps only slow, disconnect and warn/error lifecycle events.',
  },
  logSlowRequestsThreshold: {
    kind: 'seconds',
    seedName: 'log_slow_requests_threshold',
    group: 'logging',
    default: 5.0,
    min: 0.001,
    placeholder: 'SECONDS',
    description: 'A request at or over this duration is slow (info level, slow: true, RequestSlow while in flight).',
  },
  accessLog: {
    kind: 'boolean',
    seedName: 'access_log',
    group: 'logging',
    default: true,
    description: 'One access line per request (logger pounce.access).',
  },
  keepAliveTimeout: {
    kind: 'seconds',
    seedName: 'timeout_keep_alive',
    group: 'timeouts',
    default: 5,
    min: 0.001,
    placeholder: 'SECONDS',
    description: 'Close an idle keep-alive connection after this long.',
  },
  headerTimeout: {
    kind: 'seconds',
    seedName: 'header_timeout',
    group: 'timeouts',
    default: 10,
    min: 0.001,
    placeholder: 'SECONDS',
    description: 'Close a connection whose request head has not arrived whole within this long (slowloris).',
  },
  requestTimeout: {
    kind: 'seconds',
    seedName: 'request_timeout',
    group: 'timeouts',
    default: 300,
    min: 0,
    placeholder: 'SECONDS',
    zeroMeans: 'no limit',
    description: 'Close a connection whose whole request (head and body) has not arrived within this long.',
  },
  drainDelay: {
    kind: 'seconds',
    seedName: 'drain_delay',
    group: 'timeouts',
    default: 0,
    min: 0,
    placeholder: 'SECONDS',
    description: 'On SIGTERM, keep serving this long with health answering 503 before closing the listener.',
  },
  shutdownTimeout: {
    kind: 'seconds',
    seedName: 'timeout_graceful_shutdown',
    group: 'timeouts',
    default: 25,
    min: 0,
    placeholder: 'SECONDS',
    description: 'On SIGTERM, wait this long for in-flight requests before cutting them.',
  },
  maxHeaderSize: {
    kind: 'integer',
    seedName: 'max_header_size',
    group: 'limits',
    default: 16 * KiB,
    min: 1024,
    max: 1 * MiB,
    placeholder: 'BYTES',
    description: 'Largest request head accepted; larger gets 431.',
  },
  maxBodySize: {
    kind: 'integer',
    seedName: 'max_body_size',
    group: 'limits',
    default: 1 * MiB,
    min: 0,
    placeholder: 'BYTES',
    zeroMeans: 'no limit',
    description: 'Largest request body accepted; larger gets 413.',
  },
  maxConnections: {
    kind: 'integer',
    seedName: 'limit_concurrency',
    group: 'limits',
    default: 0,
    min: 0,
    placeholder: 'N',
    zeroMeans: 'no limit',
    description: 'Open connections per worker; the next client gets 503 with Retry-After.',
  },
  maxRequestsPerConnection: {
    kind: 'integer',
    seedName: 'limit_max_requests',
    group: 'limits',
    default: 0,
    min: 0,
    placeholder: 'N',
    zeroMeans: 'no limit',
    description: 'Requests served on one keep-alive connection before it is closed cleanly.',
  },
  otelEndpoint: {
    kind: 'url',
    seedName: 'otel_endpoint',
    group: 'tracing',
    default: undefined,
    placeholder: 'URL',
    description:
      'OTLP collector base URL: spans go to <URL>/v1/traces (http/protobuf, http/json) or to <URL> (grpc, per OTEL_EXPORTER_OTLP_PROTOCOL). Set empty to turn tracing off.',
  },
  tracing: {
    kind: 'enum',
    seedName: 'tracing',
    group: 'tracing',
    default: 'auto',
    values: ['auto', 'on', 'off'],
    description:
      "pounce's SERVER spans: auto = on when an endpoint is configured (this flag's or OTEL_EXPORTER_OTLP_*) or an OpenTelemetry SDK is already registered; off = none, even when the app's SDK exports.",
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;
export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

type ValueOf<S> = S extends { kind: 'boolean' }
  ? boolean
  : S extends { kind: 'seconds' | 'integer' }
    ? number
    : S extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : S extends { default: undefined }
        ? string | undefined
        : string;

/** The resolved, validated configuration: every option present. */
export type ServerOptions = { readonly [K in OptionName]: ValueOf<(typeof OPTIONS)[K]> };

/** What a user may pass programmatically: any subset. */
export type ServerOptionsInput = { [K in OptionName]?: ValueOf<(typeof OPTIONS)[K]> };

export function optionSpec(name: OptionName): OptionSpec {
  return OPTIONS[name];
}

/** `logSlowRequestsThreshold` → `--log-slow-requests-threshold` */
export function cliFlag(name: OptionName): string {
  return '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `logSlowRequestsThreshold` → `POUNCE_LOG_SLOW_REQUESTS_THRESHOLD` */
export function envVar(name: OptionName): string {
  return 'POUNCE_' + name.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Human description of what an option accepts, used in errors and help. */
export function acceptedValues(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'boolean':
      return 'true or false';
    case 'enum':
      return spec.values.join(', ') + (spec.aliases ? ` (also ${Object.keys(spec.aliases).join(', ')})` : '');
    case 'seconds':
    case 'integer': {
      const unit = spec.kind === 'seconds' ? 'a number of seconds' : 'a whole number';
      const range = spec.max !== undefined ? ` from ${spec.min} to ${spec.max}` : ` >= ${spec.min}`;
      return unit + range + (spec.zeroMeans ? ` (0 = ${spec.zeroMeans})` : '');
    }
    case 'path':
      return "a URL path starting with '/'";
    case 'url':
      return 'an http:// or https:// URL';
    case 'host':
      return 'a hostname or IP address';
    case 'addresses':
      return "IP addresses or CIDRs, comma-separated (e.g. 10.0.0.0/8,127.0.0.1), or * for any peer";
    case 'string':
      return 'a string';
  }
}
