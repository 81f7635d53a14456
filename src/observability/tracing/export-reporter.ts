import type { Logger } from 'pino';

export const REPORT_INTERVAL_MS = 30_000;

/**
 * Turns span export trouble into at most one warn line per interval.
 *
 * A collector that is down fails every batch; a collector that is slow makes
 * the queue overflow. Either way the requests are unaffected and the operator
 * needs to know, once, with numbers: the first failure after a quiet period is
 * reported at once (so a wrong endpoint shows up in seconds), later ones are
 * counted and reported together when the interval ends. When exports work
 * again after a reported failure, one info line says so.
 */
export class ExportReporter {
  private failedSpans = 0;
  private droppedSpans = 0;
  private lastError = '';
  private window: NodeJS.Timeout | undefined;
  private reported = false;
  private closed = false;
  /** The last export failed: the collector is down or refusing (shutdown then waits less for it). */
  failing = false;

  constructor(
    private readonly logger: Logger,
    /** The traces URL, credentials masked. */
    private readonly endpoint: string,
    private readonly intervalMs: number = REPORT_INTERVAL_MS,
  ) {}

  /** An export of `count` spans failed (collector down, refused, timed out). */
  exportFailed(count: number, error: unknown): void {
    this.failing = true;
    this.failedSpans += count;
    if (error !== undefined) this.noteError(error);
    this.trouble();
  }

  /** `count` spans were dropped because the export queue was full. */
  spansDropped(count: number): void {
    this.droppedSpans += count;
    this.trouble();
  }

  /** An export succeeded. */
  exportSucceeded(): void {
    const wasFailing = this.failing;
    this.failing = false;
    // Only after a failure that was reported (a full queue is not a broken collector).
    if (!wasFailing || !this.reported || this.closed) return;
    this.reported = false;
    this.logger.info({ event: 'TraceExportRecovered', endpoint: this.endpoint }, `span export to ${this.endpoint} works again`);
  }

  /** Remember the cause for the next line, without reporting anything by itself. */
  noteError(error: unknown): void {
    this.lastError = describe(error);
  }

  /** Final report of what was not yet reported (at shutdown); no timer stays behind. */
  close(): void {
    if (this.window) clearTimeout(this.window);
    this.window = undefined;
    this.closed = true;
    if (this.failedSpans + this.droppedSpans > 0) this.emit();
  }

  private trouble(): void {
    if (this.window || this.closed) return;
    this.emit();
    this.openWindow();
  }

  private openWindow(): void {
    this.window = setTimeout(() => {
      this.window = undefined;
      if (this.failedSpans + this.droppedSpans === 0) return;
      this.emit();
      this.openWindow();
    }, this.intervalMs);
    this.window.unref();
  }

  private emit(): void {
    const failed = this.failedSpans;
    const dropped = this.droppedSpans;
    this.failedSpans = 0;
    this.droppedSpans = 0;
    this.reported = true;
    const parts = [];
    if (failed > 0) parts.push(`${failed} span(s) not delivered`);
    if (dropped > 0) parts.push(`${dropped} span(s) dropped (export queue full)`);
    const cause = this.lastError ? ` (${this.lastError})` : '';
    const next = this.closed ? '' : `; next report in ${Math.round(this.intervalMs / 1000)} s at the earliest`;
    this.logger.warn(
      {
        event: 'TraceExportFailed',
        endpoint: this.endpoint,
        failed_spans: failed,
        dropped_spans: dropped,
        error: this.lastError || null,
        report_interval_s: this.intervalMs / 1000,
      },
      `span export to ${this.endpoint} failing: ${parts.join(', ')}${cause}${next}`,
    );
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    // An AggregateError (several addresses refused) has an empty message of its own.
    const inner = error instanceof AggregateError && error.errors.length > 0 ? describe(error.errors[0]) : '';
    const message = error.message || inner || error.name;
    return code && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}
