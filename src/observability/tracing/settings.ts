/**
 * Whether pounce traces, and with which SDK. This module must import nothing
 * from OpenTelemetry: it is what decides whether any of it is loaded at all.
 */
import type { ServerConfig } from '../../config/server-config.js';
import { ConfigError } from '../../config/errors.js';

export type Protocol = 'http/protobuf' | 'http/json' | 'grpc';

export interface TracingPlan {
  /**
   * `registered`: the app or a preload (`node --import`) already registered an
   * OpenTelemetry SDK; pounce makes its spans on it and takes nothing global.
   * `pounce`: nothing is registered; pounce starts the standard NodeSDK.
   */
  readonly sdk: 'registered' | 'pounce';
  /** The exporter's traces URL (pounce's SDK only), as the SDK will use it. */
  readonly tracesUrl: string | undefined;
  /** Which setting named the endpoint. */
  readonly endpointSource: 'otelEndpoint' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'default' | undefined;
  readonly protocol: Protocol;
  /** Start-up advice (a gRPC port with an HTTP protocol, ...): one warn line each. */
  readonly warnings: readonly string[];
}

/** The OpenTelemetry API keeps its globals here (one key per major version; `@opentelemetry/api` 1.x). */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** Whether some SDK registered a global TracerProvider (read without loading the API). */
export function sdkRegistered(): boolean {
  const globals = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_GLOBAL];
  return globals?.trace !== undefined;
}

/**
 * `--tracing auto|on|off`:
 * - off: pounce makes no span, whatever else is configured.
 * - auto (default): on when an endpoint is configured — `otelEndpoint` (flag,
 *   POUNCE_OTEL_ENDPOINT, code), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
 *   OTEL_EXPORTER_OTLP_ENDPOINT — or an SDK is already registered.
 *   `POUNCE_OTEL_ENDPOINT=` (set, empty) means off; so do OTEL_SDK_DISABLED=true
 *   and OTEL_TRACES_EXPORTER=none when pounce would have to start the SDK.
 * - on: as auto, and without any endpoint pounce's SDK exports to the OTLP
 *   default (http://localhost:4318).
 */
export function tracingPlan(config: ServerConfig, env: NodeJS.ProcessEnv = process.env, registered = sdkRegistered()): TracingPlan | undefined {
  const mode = config.tracing;
  if (mode === 'off') return undefined;
  const explicitlyEmpty = config.otelEndpoint === undefined && env.POUNCE_OTEL_ENDPOINT !== undefined && env.POUNCE_OTEL_ENDPOINT.trim() === '';
  if (explicitlyEmpty && mode === 'auto') return undefined;
  const protocol = protocolFromEnv(env);
  if (registered) return { sdk: 'registered', tracesUrl: undefined, endpointSource: undefined, protocol, warnings: [] };

  if (envValue(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const exporters = envValue(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase().split(',').map((s) => s.trim());
  if (exporters?.[0] === 'none' && exporters.length === 1) return undefined;

  let tracesUrl: string | undefined;
  let endpointSource: TracingPlan['endpointSource'];
  let base: string | undefined;
  if (config.otelEndpoint !== undefined) {
    base = config.otelEndpoint;
    tracesUrl = protocol === 'grpc' ? base : `${base}/v1/traces`;
    endpointSource = 'otelEndpoint';
  } else if (envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined) {
    tracesUrl = checkUrl(envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')!, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    endpointSource = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
  } else if (envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined) {
    base = checkUrl(envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')!, 'OTEL_EXPORTER_OTLP_ENDPOINT').replace(/\/+$/, '');
    tracesUrl = protocol === 'grpc' ? base : `${base}/v1/traces`;
    endpointSource = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  } else if (mode === 'on') {
    tracesUrl = protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318/v1/traces';
    endpointSource = 'default';
  } else {
    return undefined;
  }
  return { sdk: 'pounce', tracesUrl, endpointSource, protocol, warnings: portWarnings(tracesUrl, protocol) };
}

/** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL; the spec's default is http/protobuf. */
export function protocolFromEnv(env: NodeJS.ProcessEnv): Protocol {
  const value = (envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? envValue(env, 'OTEL_EXPORTER_OTLP_PROTOCOL'))?.toLowerCase();
  if (value === 'grpc' || value === 'http/json' || value === 'http/protobuf') return value;
  if (value !== undefined) {
    const which = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    throw new ConfigError(`invalid value ${JSON.stringify(value)} for ${which} — expected http/protobuf, http/json or grpc`);
  }
  return 'http/protobuf';
}

/** The collector's well-known ports: 4317 speaks gRPC, 4318 speaks HTTP. A mismatch fails only at export time: say it at start. */
function portWarnings(url: string, protocol: Protocol): string[] {
  let port = '';
  try {
    port = new URL(url).port;
  } catch {
    return [];
  }
  if (port === '4317' && protocol !== 'grpc') {
    return [`the traces endpoint ${maskUrl(url)} is on port 4317 (OTLP/gRPC) but the protocol is ${protocol}: use port 4318, or OTEL_EXPORTER_OTLP_PROTOCOL=grpc`];
  }
  if (port === '4318' && protocol === 'grpc') {
    return [`the traces endpoint ${maskUrl(url)} is on port 4318 (OTLP/HTTP) but the protocol is grpc: use port 4317, or OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`];
  }
  return [];
}

/** An empty variable means "not set", the way shells and Helm templates produce it. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function checkUrl(value: string, name: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`invalid value ${JSON.stringify(value)} for ${name} — expected an http:// or https:// URL`);
  }
  return value;
}

/** The URL as it may be logged: credentials masked. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (!url.username && !url.password) return value;
    url.username = url.username ? '***' : '';
    url.password = url.password ? '***' : '';
    return url.toString();
  } catch {
    return value;
  }
}
