/**
 * Whether tracing is on, and where spans go. This module must import nothing
 * from OpenTelemetry: it is what decides whether the SDK is loaded at all.
 */
import type { ServerConfig } from '../../config/server-config.js';
import { ConfigError } from '../../config/errors.js';

export interface TracingSettings {
  /** Full OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces. */
  readonly tracesUrl: string;
  /** Which setting named the endpoint (for the startup line). */
  readonly source: 'otelEndpoint' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_EXPORTER_OTLP_ENDPOINT';
}

/**
 * Tracing is on when an endpoint is configured: pounce's own `otelEndpoint`
 * (flag, POUNCE_OTEL_ENDPOINT, programmatic) first, then the standard
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) and OTEL_EXPORTER_OTLP_ENDPOINT
 * (`/v1/traces` appended). The standard kill switches OTEL_SDK_DISABLED=true and
 * OTEL_TRACES_EXPORTER=none turn it off whatever the endpoint.
 */
export function tracingSettings(config: ServerConfig, env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  if (envValue(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  if (envValue(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase() === 'none') return undefined;
  if (config.otelEndpoint !== undefined) {
    return { tracesUrl: `${config.otelEndpoint}/v1/traces`, source: 'otelEndpoint' };
  }
  const traces = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (traces !== undefined) {
    return { tracesUrl: checkUrl(traces, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), source: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' };
  }
  const base = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base !== undefined) {
    return {
      tracesUrl: `${checkUrl(base, 'OTEL_EXPORTER_OTLP_ENDPOINT').replace(/\/+$/, '')}/v1/traces`,
      source: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    };
  }
  return undefined;
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
