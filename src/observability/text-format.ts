/**
 * The text log format, for people: one line per record, e.g.
 *   10:15:33.625 INFO  pounce.lifecycle Response completed  event=ResponseCompleted connection_id=42 status=200 duration_ms=3500.0 slow=true
 */
const HIDDEN = new Set(['level', 'timestamp', 'logger', 'msg']);

export function formatTextLine(record: Record<string, unknown>): string {
  const time = typeof record.timestamp === 'string' ? record.timestamp.slice(11, 23) : '';
  const level = String(record.level ?? '').toUpperCase().padEnd(5);
  const logger = String(record.logger ?? 'pounce');
  const msg = oneLine(String(record.msg ?? ''));
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
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : oneLine(value);
  if (value !== null && typeof value === 'object') {
    const err = value as { type?: string; message?: string; stack?: string };
    // Errors keep their stack on the same line, escaped, so an event never spans lines.
    if (typeof err.message === 'string' && typeof err.stack === 'string') return JSON.stringify(err.stack);
    return JSON.stringify(value);
  }
  return String(value);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, '\\n');
}

/** Destination wrapper: pino hands us JSON lines; we write text lines. */
export class TextDestination {
  constructor(private readonly inner: { write(line: string): unknown; flushSync?(): void }) {}
  write(jsonLine: string): boolean {
    this.inner.write(formatTextLine(JSON.parse(jsonLine) as Record<string, unknown>));
    return true;
  }
  flushSync(): void {
    this.inner.flushSync?.();
  }
}
