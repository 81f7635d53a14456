import type { DiagLogger } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { REPORT_INTERVAL_MS } from './export-reporter.js';

const MAX_KEYS = 64;

/**
 * OpenTelemetry's own diagnostics (diag.warn/error: a bad OTEL_* value, a
 * duplicate global registration, a partial-success answer from the
 * collector...) as pounce.server lines, never as raw text on stdout/stderr.
 * The same message (digits ignored) is written at most once per interval,
 * with the count of repeats that were held back.
 */
export class PinoDiagLogger implements DiagLogger {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number = REPORT_INTERVAL_MS,
  ) {}

  error(message: string, ...args: unknown[]): void {
    this.write('warn', message, args);
  }
  warn(message: string, ...args: unknown[]): void {
    this.write('warn', message, args);
  }
  info(message: string, ...args: unknown[]): void {
    this.write('debug', message, args);
  }
  debug(message: string, ...args: unknown[]): void {
    this.write('debug', message, args);
  }
  verbose(message: string, ...args: unknown[]): void {
    this.write('debug', message, args);
  }

  private write(level: 'warn' | 'debug', message: string, args: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const key = String(message).replace(/\d+/g, '#');
    const now = Date.now();
    const entry = this.seen.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    if (!entry && this.seen.size >= MAX_KEYS) this.seen.clear();
    this.seen.set(key, { at: now, suppressed: 0 });
    const detail = args.map(describe).filter((s) => s !== '').join(' ');
    const fields: Record<string, unknown> = { event: 'OtelDiagnostic' };
    if (detail) fields.detail = detail.slice(0, 2000);
    if (suppressed > 0) fields.repeated = suppressed;
    this.logger[level](fields, `opentelemetry: ${String(message).slice(0, 1000)}`);
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}
