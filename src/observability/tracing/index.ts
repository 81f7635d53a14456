/**
 * OpenTelemetry tracing, loaded by `serve()` with a dynamic import only when
 * an endpoint is configured (see settings.ts): without one, no @opentelemetry
 * module is ever imported and the request path is untouched.
 */
import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  getNumberFromEnv,
  setGlobalErrorHandler,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { Observer } from '../../server/observer.js';
import { PinoDiagLogger } from './diag.js';
import { ExportReporter } from './export-reporter.js';
import { TracingObserver } from './observer.js';
import { BoundedQueueProcessor, ReportingExporter } from './pipeline.js';
import { buildResource } from './resource.js';
import { maskUrl, type TracingSettings } from './settings.js';

export { TracingObserver } from './observer.js';

/** Spans waiting for export, at most (OTEL_BSP_MAX_QUEUE_SIZE overrides). Beyond it they are dropped and counted. */
export const DEFAULT_MAX_QUEUE_SIZE = 2048;
/** How long shutdown waits for the last spans to reach the collector. */
export const SHUTDOWN_FLUSH_MS = 5000;

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
  /** Goes first among the observers, so the ids are set before anything is logged. */
  readonly observer: Observer;
  /** Export what is queued (bounded by timeoutMs), report what was lost, unregister. Never throws. */
  shutdown(timeoutMs?: number): Promise<void>;
}

export function startTracing(settings: TracingSettings, deps: TracingDeps): Tracing {
  const { logger } = deps;
  const endpoint = maskUrl(settings.tracesUrl);
  const reporter = new ExportReporter(logger, endpoint);

  // OTel's own diagnostics become rate-limited pounce.server lines: stdout stays JSON.
  diag.setLogger(new PinoDiagLogger(logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  // A failed batch is already counted by the exporter wrapper: keep only its cause.
  setGlobalErrorHandler((err) => reporter.noteError(err));

  const maxQueueSize = positive(getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE')) ?? DEFAULT_MAX_QUEUE_SIZE;
  const exporter = new ReportingExporter(new OTLPTraceExporter({ url: settings.tracesUrl }), reporter);
  // Batch size, delay and export timeout: OTel defaults (512, 5 s, 30 s), OTEL_BSP_* override.
  const batch = new BatchSpanProcessor(exporter, { maxQueueSize });
  const queue = new BoundedQueueProcessor(batch, maxQueueSize, reporter);
  exporter.queue = queue;

  // Sampler from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on).
  const resource = buildResource(deps.appDescription);
  const serviceName = String(resource.attributes['service.name']);
  const provider = new BasicTracerProvider({ resource, spanProcessors: [queue] });
  const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

  // Global registration, so that the app's trace.getTracer() spans nest under
  // pounce's and its outgoing calls propagate the context. An app that brought
  // its own SDK (node --import) keeps it: registration fails, pounce's spans
  // still go out through its own provider.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const ownsContext = context.setGlobalContextManager(contextManager);
  if (!ownsContext) contextManager.disable();
  const ownsTracerProvider = trace.setGlobalTracerProvider(provider);
  const ownsPropagator = propagation.setGlobalPropagator(propagator);

  const tracer = provider.getTracer('pounce', deps.version);
  logger.info(
    {
      event: 'TracingEnabled',
      endpoint,
      endpoint_source: settings.source,
      service_name: serviceName,
      sampler: samplerName(),
      max_queue_size: maxQueueSize,
      global_tracer_provider: ownsTracerProvider,
    },
    `tracing: spans of service ${serviceName} go to ${endpoint}`,
  );

  let shut: Promise<void> | undefined;
  const shutdown = (timeoutMs: number = SHUTDOWN_FLUSH_MS) =>
    (shut ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      try {
        const outcome = await Promise.race([provider.shutdown().then(() => 'done' as const), timedOut]);
        if (outcome === 'timeout' && queue.pending > 0) {
          reporter.exportFailed(queue.pending, new Error(`not exported within the ${timeoutMs} ms shutdown flush`));
        }
      } catch (err) {
        reporter.noteError(err);
      } finally {
        clearTimeout(timer);
      }
      reporter.close();
      if (ownsTracerProvider) trace.disable();
      if (ownsContext) context.disable();
      if (ownsPropagator) propagation.disable();
      diag.disable();
    })());

  return { observer: new TracingObserver(tracer, propagator, deps.workerId, deps.thresholdMs), shutdown };
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}

function samplerName(): string {
  const sampler = process.env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on';
  const arg = process.env.OTEL_TRACES_SAMPLER_ARG?.trim();
  return arg && sampler.includes('traceidratio') ? `${sampler}(${arg})` : sampler;
}
