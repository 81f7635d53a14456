import type { Logger } from 'pino';

export const REPORT_INTERVAL_MS = 30_000;

/**
 * Turns span export trouble into at most one warn line per interval (only for
 * the SDK pounce starts itself: it is then the global error handler the
 * BatchSpanProcessor reports failed exports to).
 *
 * A collector that is down fails every batch; the requests are unaffected and
 * the operator needs to know, once, with a number: the first failure after a
 * quiet period is reported at once (so a wrong endpoint shows up in seconds),
 * later ones are counted and reported together when the interval ends.
 * (A full queue is the BatchSpanProcessor's own diagnostic, "Dropped N spans",
 * an OtelDiagnostic line.)
 */
export class ExportReporter {
  private failedExports = 0;
  private lastError = '';
  private window: NodeJS.Timeout | undefined;
  private closed = false;
  /** The last export failed: the collector is down or refusing (shutdown then waits less for it). */
  failing = false;

  constructor(
    private readonly logger: Logger,
    /** The traces URL, credentials masked. */
    private readonly endpoint: string,
    private readonly intervalMs: number = REPORT_INTERVAL_MS,
  ) {}

  /** An export failed (collector down, refused, timed out). */
  exportFailed(error: unknown): void {
    this.failing = true;
    this.failedExports++;
    if (error !== undefined) this.lastError = describe(error);
    if (this.window || this.closed) return;
    this.emit();
    this.openWindow();
  }

  /** Final report of what was not yet reported (at shutdown); no timer stays behind. */
  close(): void {
    if (this.window) clearTimeout(this.window);
    this.window = undefined;
    this.closed = true;
    if (this.failedExports > 0) this.emit();
  }

  private openWindow(): void {
    this.window = setTimeout(() => {
      this.window = undefined;
      if (this.failedExports === 0) return;
      this.emit();
      this.openWindow();
    }, this.intervalMs);
    this.window.unref();
  }

  private emit(): void {
    const failed = this.failedExports;
    this.failedExports = 0;
    const cause = this.lastError ? ` (${this.lastError})` : '';
    const next = this.closed ? '' : `; next report in ${Math.round(this.intervalMs / 1000)} s at the earliest`;
    this.logger.warn(
      {
        event: 'TraceExportFailed',
        endpoint: this.endpoint,
        failed_exports: failed,
        error: this.lastError || null,
        report_interval_s: this.intervalMs / 1000,
      },
      `span export to ${this.endpoint} failing: ${failed} export(s) failed${cause}${next}`,
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
