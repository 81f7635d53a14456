import { fstatSync, writeSync } from 'node:fs';

export interface LineWriterOptions {
  /** Flush as soon as this many bytes are buffered (and at the end of every tick). */
  batchBytes?: number;
  /**
   * Largest single write(2). Writes up to PIPE_BUF (4096) bytes to a pipe are
   * atomic, so several processes sharing one pipe set this to 4096 and every
   * line arrives whole. Lines are never split across writes unless one line
   * alone is larger.
   */
  maxWriteBytes?: number;
  /**
   * What to do with one line that alone is longer than maxWriteBytes:
   * `write` it in one write(2) anyway (default), or `shorten` it to fit, so
   * that the atomicity of every write holds (a JSON line stays whole JSON:
   * its longest strings are cut and `"truncated": true` is added).
   */
  oversizeLines?: 'write' | 'shorten';
}

/** POSIX guarantees that a write of at most PIPE_BUF bytes to a pipe is never interleaved (4096 on Linux). */
export const PIPE_BUF = 4096;

/**
 * Writer options for a log fd that several processes share (the supervisor
 * and its workers all inherit fd 1).
 *
 * - fd 1 is a pipe, FIFO or socket (`docker run`, kubelet, a log shipper, a
 *   test harness): each process writes whole lines directly, every write at
 *   most PIPE_BUF bytes, so writes never interleave mid-line; a line longer
 *   than that is shortened to fit rather than risk a torn line.
 * - a regular file or a terminal: writes go through one shared offset (or the
 *   terminal's write lock) and are not torn: no limit, batches stay large.
 *
 * Nothing is funnelled through the supervisor: no extra copy, no IPC, and a
 * worker's lines are in the pipe the moment write(2) returns, so a crash or an
 * exit loses none (at most the current tick's batch on `kill -9`).
 */
export function sharedFdWriterOptions(fd: number): LineWriterOptions {
  try {
    const stat = fstatSync(fd);
    if (stat.isFIFO() || stat.isSocket()) return { maxWriteBytes: PIPE_BUF, oversizeLines: 'shorten' };
  } catch {
    // An unusable fd: writes will fail the same way whatever the options.
  }
  return {};
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The log destination: lines are gathered for the current tick and written
 * with one synchronous write(2) per batch.
 *
 * Why synchronous: a line that is in our buffer when the process exits is a
 * lost line, and an async queue grows without bound when stdout is slow.
 * Writing synchronously once per tick costs one syscall per batch, bounds
 * memory to one tick's lines, and turns a slow log reader into backpressure
 * on the server instead of loss.
 */
export class LineWriter {
  private chunks: string[] = [];
  private buffered = 0;
  private scheduled = false;
  private readonly batchBytes: number;
  private readonly maxWriteBytes: number;
  private readonly shorten: boolean;
  private readonly flushBound = () => this.flush();

  constructor(
    readonly fd: number,
    options: LineWriterOptions = {},
  ) {
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.maxWriteBytes = options.maxWriteBytes ?? Infinity;
    this.shorten = options.oversizeLines === 'shorten' && Number.isFinite(this.maxWriteBytes);
  }

  /** pino's destination interface: one call per complete line (newline included). */
  write(line: string): boolean {
    // line.length (UTF-16 units) <= bytes <= 3 * line.length: measure bytes only when it could matter.
    if (this.shorten && line.length * 3 > this.maxWriteBytes && Buffer.byteLength(line) > this.maxWriteBytes) {
      line = shortenLine(line, this.maxWriteBytes);
    }
    this.chunks.push(line);
    this.buffered += line.length;
    if (this.buffered >= this.batchBytes) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
    return true;
  }

  /** Write everything buffered, now. Safe to call from exit handlers. */
  flush(): void {
    this.scheduled = false;
    if (this.chunks.length === 0) return;
    const data = this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join('');
    this.chunks = [];
    this.buffered = 0;
    const bytes = Buffer.from(data, 'utf8');
    if (bytes.length <= this.maxWriteBytes) {
      writeAll(this.fd, bytes, 0, bytes.length);
      return;
    }
    // Split on line boundaries so that no write larger than maxWriteBytes carries a partial line.
    let start = 0;
    while (start < bytes.length) {
      let end = Math.min(start + this.maxWriteBytes, bytes.length);
      if (end < bytes.length) {
        const lastNewline = bytes.lastIndexOf(0x0a, end - 1);
        end = lastNewline >= start ? lastNewline + 1 : bytes.indexOf(0x0a, end) + 1 || bytes.length;
      }
      writeAll(this.fd, bytes, start, end);
      start = end;
    }
  }

  /** pino calls this on `logger.flush()`. */
  flushSync(): void {
    this.flush();
  }
}

function writeAll(fd: number, bytes: Buffer, start: number, end: number): void {
  let offset = start;
  while (offset < end) {
    try {
      offset += writeSync(fd, bytes, offset, end - offset);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking pipe that is full: wait for the reader rather than drop the line.
      if (code === 'EAGAIN') {
        Atomics.wait(sleeper, 0, 0, 1);
        continue;
      }
      // The reader is gone (EPIPE) or the fd is closed: nothing left to write to.
      if (code === 'EPIPE' || code === 'EBADF') return;
      throw err;
    }
  }
}

const TRUNCATED = '…[truncated]';

/**
 * Make one line fit in maxBytes (newline included) and stay parseable: a JSON
 * line loses the tail of its longest strings (a stack, a big message) and
 * gains `"truncated": true` and `original_bytes`; any other line is cut.
 */
export function shortenLine(line: string, maxBytes: number): string {
  const originalBytes = Buffer.byteLength(line);
  if (line.startsWith('{')) {
    let record: Record<string, unknown> | undefined;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      record = undefined;
    }
    if (record !== null && typeof record === 'object' && !Array.isArray(record)) {
      record.truncated = true;
      record.original_bytes = originalBytes;
      for (let round = 0; round < 32; round++) {
        const out = JSON.stringify(record) + '\n';
        const excess = Buffer.byteLength(out) - maxBytes;
        if (excess <= 0) return out;
        const longest = longestString(record);
        if (!longest || longest.value.length <= 64) break;
        // Every character cut removes at least one byte of output.
        const keep = Math.max(32, longest.value.length - excess - TRUNCATED.length - 16);
        longest.holder[longest.key] = longest.value.slice(0, keep) + TRUNCATED;
      }
      // Too many fields to shorten this way: keep what identifies the line.
      const essential: Record<string, unknown> = {};
      for (const key of ['level', 'timestamp', 'logger', 'worker_id', 'event', 'connection_id', 'trace_id', 'span_id']) {
        if (key in record) essential[key] = record[key];
      }
      essential.msg = String(record.msg ?? '').slice(0, 512);
      essential.truncated = true;
      essential.original_bytes = originalBytes;
      return JSON.stringify(essential) + '\n';
    }
  }
  const suffix = ` ${TRUNCATED}\n`;
  const budget = maxBytes - Buffer.byteLength(suffix);
  const bytes = Buffer.from(line.replace(/\n$/, ''), 'utf8');
  let end = Math.min(bytes.length, budget);
  // Do not cut a UTF-8 sequence in half.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8') + suffix;
}

function longestString(value: unknown): { holder: Record<string, unknown>; key: string; value: string } | undefined {
  let best: { holder: Record<string, unknown>; key: string; value: string } | undefined;
  const visit = (node: unknown, depth: number) => {
    if (depth > 8 || node === null || typeof node !== 'object') return;
    const holder = node as Record<string, unknown>;
    for (const key of Object.keys(holder)) {
      const v = holder[key];
      if (typeof v === 'string') {
        if (!best || v.length > best.value.length) best = { holder, key, value: v };
      } else {
        visit(v, depth + 1);
      }
    }
  };
  visit(value, 0);
  return best;
}
