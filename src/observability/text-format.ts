/**
 * The text log format, for people: one line per record, e.g.
 *   10:15:33.625 INFO  pounce.lifecycle Response completed  worker_id=1 event=ResponseCompleted connection_id=42 status=200 duration_ms=3500.0 slow=true
 *
 * The fixed events (lifecycle, access) are built as text directly (see
 * event-line.ts). pounce's other lines and the app's own logger lines come
 * from pino as JSON and are turned into the same layout here: few per
 * request at most, so parsing them back is affordable.
 */
import { jsonString, textLevel, textMessage, textValue } from './event-line.js';

const HIDDEN = new Set(['level', 'timestamp', 'logger', 'msg']);

export function formatTextLine(record: Record<string, unknown>, color = false): string {
  const time = typeof record.timestamp === 'string' ? record.timestamp.slice(11, 23) : '';
  const level = textLevel(String(record.level ?? ''), color);
  const logger = String(record.logger ?? 'pounce');
  const msg = textMessage(String(record.msg ?? ''));
  let line = `${time} ${level} ${logger} ${msg}`;
  let first = true;
  for (const key in record) {
    if (HIDDEN.has(key)) continue;
    line += (first ? '  ' : ' ') + key + '=' + formatValue(key, record[key]);
    first = false;
  }
  return line + '\n';
}

function formatValue(key: string, value: unknown): string {
  if (typeof value === 'number') {
    return key.endsWith('_ms') && Number.isInteger(value) ? value.toFixed(1) : String(value);
  }
  if (typeof value === 'string') return textValue(value);
  if (value !== null && typeof value === 'object') {
    const err = value as { type?: string; message?: string; stack?: string };
    // Errors keep their stack on the same line, escaped, so an event never spans lines.
    if (typeof err.message === 'string' && typeof err.stack === 'string') return jsonString(err.stack);
    return JSON.stringify(value);
  }
  return String(value);
}

/** Destination wrapper for pino's generic lines: pino hands us JSON lines; we write text lines. */
export class TextDestination {
  constructor(
    private readonly inner: { write(line: string): unknown; flushSync?(): void },
    private readonly color = false,
  ) {}
  write(jsonLine: string): boolean {
    this.inner.write(formatTextLine(JSON.parse(jsonLine) as Record<string, unknown>, this.color));
    return true;
  }
  flushSync(): void {
    this.inner.flushSync?.();
  }
}
