import type { Context } from '@opentelemetry/api';
import { TraceFlags } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ExportReporter } from './export-reporter.js';

/**
 * Keeps the batch processor's queue bounded and counts what it cannot keep.
 *
 * The BatchSpanProcessor drops spans silently (a diag line) when its queue is
 * full; pounce wants the count in its one warn line. This processor mirrors the
 * queue: a sampled span that ends is queued unless `maxQueueSize` are already
 * waiting, in which case it is dropped and counted; spans leave the queue when
 * the exporter takes them (see ReportingExporter).
 */
export class BoundedQueueProcessor implements SpanProcessor {
  private queued = 0;

  constructor(
    private readonly inner: SpanProcessor,
    private readonly maxQueueSize: number,
    private readonly reporter: ExportReporter,
  ) {}

  /** Spans waiting in the queue right now. */
  get pending(): number {
    return this.queued;
  }

  /** The exporter took `count` spans off the queue. */
  taken(count: number): void {
    this.queued = Math.max(0, this.queued - count);
  }

  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.queued >= this.maxQueueSize) {
      this.reporter.spansDropped(1);
      return;
    }
    this.queued++;
    this.inner.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** Wraps the OTLP exporter: every batch's outcome goes to the reporter, never to a log line of its own. */
export class ReportingExporter implements SpanExporter {
  queue: BoundedQueueProcessor | undefined;
  /** Spans handed to the OTLP exporter whose outcome is not known yet. */
  inFlight = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly reporter: ExportReporter,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.queue?.taken(spans.length);
    this.inFlight += spans.length;
    let reported = false;
    const done = (result: ExportResult) => {
      if (reported) return;
      reported = true;
      this.inFlight -= spans.length;
      if (result.code === ExportResultCode.SUCCESS) this.reporter.exportSucceeded();
      else this.reporter.exportFailed(spans.length, result.error);
      resultCallback(result);
    };
    try {
      this.inner.export(spans, done);
    } catch (err) {
      done({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
