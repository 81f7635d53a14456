/**
 * OpenTelemetry tracing, loaded by `serve()` with a dynamic import only when
 * an endpoint is configured (see settings.ts): without one, no @opentelemetry
 * module is ever imported and the request path is untouched.
 *
 * The pipeline:
 *   pounce's SERVER spans (span.ts) ─┐
 *   the app's spans (SDK, global) ───┴→ BoundedQueueProcessor → BatchSpanProcessor
 *        → ReportingExporter → OtlpHttpJsonExporter → POST <endpoint>/v1/traces
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
import { BasicTracerProvider, BatchSpanProcessor, RandomIdGenerator } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import { armRequestContext } from '../../app/context.js';
import type { Observer, RequestTracing } from '../../server/observer.js';
import { PinoDiagLogger } from './diag.js';
import { ExportReporter } from './export-reporter.js';
import { OtlpHttpJsonExporter } from './otlp-http.js';
import { TracingObserver } from './observer.js';
import { BoundedQueueProcessor, ReportingExporter } from './pipeline.js';
import { buildResource } from './resource.js';
import { samplerFromEnv } from './sampler.js';
import { maskUrl, type TracingSettings } from './settings.js';
import { ServerSpanFactory } from './span.js';

export { TracingObserver } from './observer.js';

/** Spans waiting for export, at most (OTEL_BSP_MAX_QUEUE_SIZE overrides). Beyond it they are dropped and counted. */
export const DEFAULT_MAX_QUEUE_SIZE = 2048;
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
  /** Goes first among the observers, so the ids are set before anything is logged. */
  readonly observer: Observer & RequestTracing;
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
  const exporter = new ReportingExporter(
    new OtlpHttpJsonExporter({
      url: settings.tracesUrl,
      userAgent: `pounce/${deps.version}`,
      onPartialSuccess: (rejected, message) => reporter.exportFailed(rejected, new Error(message)),
    }),
    reporter,
  );
  // Delay and export timeout: OTel defaults (5 s, 30 s), OTEL_BSP_* override. A batch never exceeds the queue.
  const maxExportBatchSize = Math.min(positive(getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE')) ?? 512, maxQueueSize);
  const batch = new BatchSpanProcessor(exporter, { maxQueueSize, maxExportBatchSize });
  const queue = new BoundedQueueProcessor(batch, maxQueueSize, reporter);
  exporter.queue = queue;

  const { sampler, name: samplerName } = samplerFromEnv();
  const resource = buildResource(deps.appDescription);
  const serviceName = String(resource.attributes['service.name']);
  const ids = new RandomIdGenerator();
  // The app's spans (trace.getTracer() in its code): the SDK, same sampler, resource and queue.
  const provider = new BasicTracerProvider({ resource, sampler, idGenerator: ids, spanProcessors: [queue] });
  // pounce's own SERVER spans: same sampler, ids, resource and queue, leaner objects.
  const limits = {
    attributeCountLimit: positive(getNumberFromEnv('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT') ?? getNumberFromEnv('OTEL_ATTRIBUTE_COUNT_LIMIT')) ?? 128,
    attributeValueLengthLimit:
      positive(getNumberFromEnv('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? getNumberFromEnv('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT')) ?? Infinity,
    eventCountLimit: positive(getNumberFromEnv('OTEL_SPAN_EVENT_COUNT_LIMIT')) ?? 128,
  };
  const spans = new ServerSpanFactory(sampler, ids, resource, { name: 'pounce', version: deps.version }, queue, limits);
  const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

  // Global registration, so that the app's trace.getTracer() spans nest under
  // pounce's and its outgoing calls propagate the context. An app that brought
  // its own SDK (node --import) keeps it: registration fails, pounce's spans
  // still go out through pounce's own pipeline.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const ownsContext = context.setGlobalContextManager(contextManager);
  if (!ownsContext) contextManager.disable();
  const ownsTracerProvider = trace.setGlobalTracerProvider(provider);
  const ownsPropagator = propagation.setGlobalPropagator(propagator);
  // Requests run in the request context (AsyncLocalStorage), body listeners included:
  // the span is active wherever the app's code runs.
  armRequestContext();

  logger.info(
    {
      event: 'TracingEnabled',
      endpoint,
      endpoint_source: settings.source,
      service_name: serviceName,
      sampler: samplerName,
      max_queue_size: maxQueueSize,
      global_tracer_provider: ownsTracerProvider,
    },
    `tracing: spans of service ${serviceName} go to ${endpoint}`,
  );

  let shut: Promise<void> | undefined;
  const shutdown = (timeoutMs: number = SHUTDOWN_FLUSH_MS) =>
    (shut ??= (async () => {
      // A collector that just failed is not waited for long: one attempt, not the retries.
      const deadline = reporter.failing ? Math.min(timeoutMs, FAILING_FLUSH_MS) : timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), deadline);
      });
      try {
        const outcome = await Promise.race([provider.shutdown().then(() => 'done' as const), timedOut]);
        const lost = queue.pending + exporter.inFlight;
        if (outcome === 'timeout' && lost > 0) {
          reporter.exportFailed(lost, new Error(`not exported within the ${deadline} ms shutdown flush`));
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

  return { observer: new TracingObserver(spans, propagator, deps.workerId, deps.thresholdMs), shutdown };
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}
