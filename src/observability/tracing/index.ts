/**
 * OpenTelemetry tracing, loaded by `serve()` with a dynamic import only when
 * the plan (settings.ts) says tracing is on: otherwise no @opentelemetry
 * module is ever imported and the request path is untouched.
 *
 * One pipeline: pounce's SERVER spans are made through `@opentelemetry/api`
 * on whatever is registered globally.
 * - An SDK is registered (the app, or `node --import ./otel.js`): pounce uses
 *   it as it is — its resource, sampler, limits, exporters, propagators — and
 *   registers nothing, replaces no diag logger or error handler. At shutdown
 *   pounce asks it to flush (the team's code owns its shutdown).
 * - Nothing is registered: pounce starts the standard NodeSDK (no
 *   instrumentations), so every OTEL_* variable means what the specification
 *   says; pounce's endpoint (`--otel-endpoint`) becomes the traces exporter's
 *   endpoint. pounce owns that SDK: its diagnostics become pounce.server lines.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { context, diag, DiagLogLevel, trace, type TracerProvider } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { armRequestContext, carryRequestsIn, type RequestInfo } from '../../app/context.js';
import { parseAppSpec } from '../../app/load.js';
import type { Observer, RequestTracing } from '../../server/observer.js';
import type { RequestRecord } from '../../server/request-record.js';
import { PinoDiagLogger } from './diag.js';
import { PooledIdGenerator } from './ids.js';
import { ExportReporter } from './export-reporter.js';
import { POUNCE_REQUEST_KEY, RequestTracer } from './request-span.js';
import { watchFrameworkRoutes } from './route.js';
import { maskUrl, type TracingPlan } from './settings.js';

/** How long shutdown waits for the last spans to reach the collector. */
export const SHUTDOWN_FLUSH_MS = 5000;
/** The same, when the last export failed. */
export const FAILING_FLUSH_MS = 1000;

export interface TracingDeps {
  /** pounce.server: the startup line, export warnings, OTel diagnostics. */
  logger: Logger;
  workerId: number;
  thresholdMs: number;
  /** The loaded app's description (`./app.js:default`): its package names the service. */
  appDescription: string;
  /** pounce's version, for the instrumentation scope. */
  version: string;
}

export interface Tracing {
  /** Start the request's SERVER span (or adopt an instrumentation's) and put its ids on the record. */
  begin(rec: RequestRecord): void;
  /** Run the app with the request's span active. */
  runApp<T>(rec: RequestRecord, run: () => T, request?: object): T;
  carries(rec: RequestRecord): boolean;
  /** The same begin/runApp for the tracker, and the rest of the request's life (slow, completed, disconnected, aborted). */
  readonly observer: Observer & RequestTracing;
  /** Export what is queued (bounded by timeoutMs), report what was lost. Never throws. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export async function startTracing(plan: TracingPlan, deps: TracingDeps): Promise<Tracing> {
  const { logger } = deps;
  const owned = plan.sdk === 'pounce' ? await startOwnSdk(plan, deps) : undefined;
  const provider = trace.getTracerProvider();
  if (owned) linkAppApiCopy(deps.appDescription, provider);
  const tracer = provider.getTracer('pounce', deps.version);
  const requests = new RequestTracer(tracer, { workerId: deps.workerId, thresholdMs: deps.thresholdMs, attributeCountLimit: attributeCountLimitFromEnv() });
  // Requests run in the request context (AsyncLocalStorage), body listeners included:
  // the span is active wherever the app's code runs.
  armRequestContext();
  if (owned && requests.carryRequests()) carryRequestsIn(() => context.active().getValue(POUNCE_REQUEST_KEY) as RequestInfo | undefined);
  const unwatch = watchFrameworkRoutes();

  for (const warning of plan.warnings) logger.warn({ event: 'TracingMisconfigured' }, `tracing: ${warning}`);
  // The OTLP endpoint matters only when an OTLP exporter is among OTEL_TRACES_EXPORTER's.
  const otlp = owned !== undefined && owned.exporters.split(',').some((e) => e.trim() === 'otlp');
  const endpoint = plan.tracesUrl === undefined || !otlp ? undefined : maskUrl(plan.tracesUrl);
  logger.info(
    {
      event: 'TracingEnabled',
      sdk: plan.sdk,
      endpoint: endpoint ?? null,
      endpoint_source: endpoint === undefined ? null : (plan.endpointSource ?? null),
      protocol: owned ? plan.protocol : null,
      exporters: owned ? owned.exporters : null,
      service_name: owned?.serviceName ?? null,
    },
    owned
      ? `tracing: spans of service ${owned.serviceName} go to ${endpoint ? `${endpoint} (${plan.protocol})` : `the ${owned.exporters} exporter`}`
      : 'tracing: on the OpenTelemetry SDK the app registered',
  );

  let shut: Promise<void> | undefined;
  const shutdown = (timeoutMs: number = SHUTDOWN_FLUSH_MS) =>
    (shut ??= (async () => {
      unwatch();
      if (owned) {
        await owned.shutdown(timeoutMs);
        return;
      }
      // The team's SDK: its code owns shutdown, but pounce exits the process after the drain.
      await withTimeout(flushRegistered(provider), timeoutMs).catch(() => {});
    })());

  return {
    begin: (rec) => requests.begin(rec),
    runApp: (rec, run, request) => requests.runApp(rec, run, request),
    carries: (rec) => requests.carries(rec),
    observer: requests,
    shutdown,
  };
}

interface OwnSdk {
  serviceName: string;
  exporters: string;
  shutdown(timeoutMs: number): Promise<void>;
}

/** Start NodeSDK the standard way, pounce's endpoint as the traces exporter's; diagnostics and export errors as pounce lines. */
async function startOwnSdk(plan: TracingPlan, deps: TracingDeps): Promise<OwnSdk> {
  const { logger } = deps;
  const env = process.env;
  const { NodeSDK, core } = await import('@opentelemetry/sdk-node');
  const endpoint = plan.tracesUrl === undefined ? 'the console' : maskUrl(plan.tracesUrl);
  const reporter = new ExportReporter(logger, endpoint);

  // pounce owns this SDK: OTel's own diagnostics become rate-limited pounce.server lines (stdout stays JSON).
  const level = diagLevel(env.OTEL_LOG_LEVEL);
  const named = env.OTEL_SERVICE_NAME?.trim() || serviceNameIn(env.OTEL_RESOURCE_ATTRIBUTES);
  const serviceName = named || (await defaultServiceName(deps.appDescription));
  // OTLP http/protobuf alone (the default): the official exporter's transport with pounce's
  // one-pass encoder (otlp-proto.ts); any other exporter or protocol, the SDK's own choice.
  const traceExporter = fastExporterWanted(plan, env) ? await fastExporter(plan) : undefined;
  const sdk = new NodeSDK({
    // NodeSDK's default would be unknown_service:node: name it after the app's package, or pounce.
    serviceName: named ? undefined : serviceName,
    ...(traceExporter ? { traceExporter } : {}),
    idGenerator: new PooledIdGenerator(),
    instrumentations: [],
    // Traces only, unless metrics or logs are asked for by their own variables.
    ...(env.OTEL_METRICS_EXPORTER?.trim() ? {} : { metricReaders: [] }),
    ...(env.OTEL_LOGS_EXPORTER?.trim() ? {} : { logRecordProcessors: [] }),
  });
  // After the constructor: NodeSDK installs a console logger when OTEL_LOG_LEVEL is set.
  diag.setLogger(new PinoDiagLogger(logger), { logLevel: level, suppressOverrideMessage: true });
  // The SDK's copy of @opentelemetry/core is the one its BatchSpanProcessor reports through.
  core.setGlobalErrorHandler((err) => reporter.exportFailed(err));

  // pounce's endpoint is the exporter's, for as long as the SDK reads the environment.
  const saved = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (plan.endpointSource === 'otelEndpoint' || plan.endpointSource === 'default') env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = plan.tracesUrl;
  try {
    sdk.start();
  } finally {
    if (saved === undefined) delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    else env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = saved;
  }
  const exporters = env.OTEL_TRACES_EXPORTER?.trim() || 'otlp';

  return {
    serviceName,
    exporters,
    async shutdown(timeoutMs) {
      // A collector that just failed is not waited for long: one attempt, not the retries.
      const deadline = reporter.failing ? Math.min(timeoutMs, FAILING_FLUSH_MS) : timeoutMs;
      try {
        const outcome = await withTimeout(sdk.shutdown(), deadline);
        if (outcome === 'timeout') reporter.exportFailed(new Error(`spans not exported within the ${deadline} ms shutdown flush`));
      } catch (err) {
        reporter.exportFailed(err);
      }
      reporter.close();
      diag.disable();
    },
  };
}

/**
 * NodeSDK would build exactly one OTLP http/protobuf exporter from the environment:
 * OTEL_TRACES_EXPORTER unset or `otlp`, the protocol http/protobuf.
 */
export function fastExporterWanted(plan: TracingPlan, env: NodeJS.ProcessEnv): boolean {
  if (plan.protocol !== 'http/protobuf') return false;
  const names = new Set((env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '' && name !== 'null'));
  return names.size === 0 || (names.size === 1 && names.has('otlp'));
}

async function fastExporter(plan: TracingPlan): Promise<import('@opentelemetry/sdk-trace-base').SpanExporter> {
  const { OtlpProtoSpanExporter } = await import('./otlp-proto.js');
  // pounce's endpoint as the traces endpoint; otherwise the exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT itself.
  const own = plan.endpointSource === 'otelEndpoint' || plan.endpointSource === 'default';
  return new OtlpProtoSpanExporter(own && plan.tracesUrl !== undefined ? { url: plan.tracesUrl } : {});
}

/**
 * An app that resolves its own copy of @opentelemetry/api shares the globals
 * (one per major version), but a tracer it took at import time — before
 * pounce registered its SDK — belongs to its copy's proxy provider, which only
 * its copy's registration would complete: complete it with pounce's provider.
 */
function linkAppApiCopy(appDescription: string, provider: TracerProvider): void {
  try {
    const ours = createRequire(import.meta.url).resolve('@opentelemetry/api');
    const appRequire = createRequire(resolve(parseAppSpec(appDescription).file));
    const theirs = appRequire.resolve('@opentelemetry/api');
    if (theirs === ours) return;
    const api = appRequire(theirs) as { trace?: { _proxyTracerProvider?: { setDelegate?: (p: TracerProvider) => void; getDelegate?: () => unknown } } };
    const proxy = api.trace?._proxyTracerProvider;
    const delegate = (provider as { getDelegate?: () => TracerProvider }).getDelegate?.() ?? provider;
    if (proxy?.setDelegate && proxy !== (provider as unknown)) proxy.setDelegate(delegate);
  } catch {
    // No copy of its own (or no file to resolve from): nothing to link.
  }
}

/** The registered provider (behind the API's proxy) flushes if it can. */
async function flushRegistered(provider: TracerProvider): Promise<void> {
  const real = (provider as { getDelegate?: () => TracerProvider }).getDelegate?.() ?? provider;
  await (real as { forceFlush?: () => Promise<void> }).forceFlush?.();
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

async function defaultServiceName(appDescription: string): Promise<string> {
  const { appPackage } = await import('./resource.js');
  return appPackage(appDescription)?.name ?? 'pounce';
}

/** `service.name` in OTEL_RESOURCE_ATTRIBUTES (key=value pairs, values percent-encoded). */
function serviceNameIn(attributes: string | undefined): string | undefined {
  for (const pair of attributes?.split(',') ?? []) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === 'service.name') {
      try {
        return decodeURIComponent(pair.slice(eq + 1).trim()) || undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function diagLevel(value: string | undefined): DiagLogLevel {
  switch (value?.trim().toUpperCase()) {
    case 'NONE':
      return DiagLogLevel.NONE;
    case 'ERROR':
      return DiagLogLevel.ERROR;
    case 'INFO':
      return DiagLogLevel.INFO;
    case 'DEBUG':
      return DiagLogLevel.DEBUG;
    case 'VERBOSE':
    case 'ALL':
      return DiagLogLevel.ALL;
    default:
      return DiagLogLevel.WARN;
  }
}

function attributeCountLimitFromEnv(): number {
  const raw = process.env.OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT?.trim() || process.env.OTEL_ATTRIBUTE_COUNT_LIMIT?.trim();
  const n = raw ? Number(raw) : NaN;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 128;
}
