import { Buffer } from 'node:buffer';
import { fstatSync, writeSync } from 'node:fs';

export interface LineWriterOptions {
  /**
   * Most bytes of lines held before they are written (default 64 KiB): the
   * bound on log memory. Reached within a tick, the lines are written at once,
   * synchronously: a stalled reader slows the server, it never grows memory.
   */
  maxPendingBytes?: number;
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

/** Lines encoded into the buffer at a time (see LineWriter.write). */
const GROUP = 8;

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
 * Nothing is funnelled through the supervisor: no extra copy, no IPC. A crash
 * or an exit loses no line (they are flushed); `kill -9` loses at most the
 * lines of the tick it lands in.
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

/**
 * The log destination: every line of the process (pino's, the lifecycle and
 * access lines, the app's captured output) goes through one LineWriter, so
 * they leave in the order they were made.
 *
 * Lines are encoded into one buffer as they come (a few at a time) and
 * written with one write(2) at the end of the tick (setImmediate: after the
 * I/O callbacks of this turn of the event loop, so a busy server writes
 * every request of a turn at once).
 * No thread: measured on the bench (see bench/README.md), a writer thread
 * cost more CPU per request than the write(2) it took off the serving thread,
 * and with --workers = cores there is no idle core for it.
 *
 * Nothing is lost and memory stays bounded:
 * - at most maxPendingBytes wait: beyond that the lines are written at once,
 *   synchronously, so a stalled reader holds the server back instead of
 *   growing memory or dropping lines;
 * - flush() (exit, crash, a signal) writes what is pending from the calling
 *   code: a line logged before the exit is on the fd when flush() returns.
 *   `kill -9` loses at most the lines of the tick it lands in.
 *
 * Each write(2) carries whole lines, at most maxWriteBytes if set (PIPE_BUF
 * on a pipe shared by several processes).
 */
export class LineWriter {
  /** Bytes of whole lines encoded and waiting for the end of the tick: buffer[0, encoded). */
  private encoded = 0;
  /** Lines not encoded yet (at most GROUP); bytes <= 3 x group.length (UTF-16 units). */
  private group = '';
  private groupLines = 0;
  private readonly maxWriteBytes: number;
  private readonly shorten: boolean;
  private readonly maxPendingBytes: number;
  private readonly buffer: Buffer;
  private scheduled = false;
  private readonly endOfTick = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    readonly fd: number,
    options: LineWriterOptions = {},
  ) {
    this.maxWriteBytes = options.maxWriteBytes ?? Infinity;
    this.shorten = options.oversizeLines === 'shorten' && Number.isFinite(this.maxWriteBytes);
    this.maxPendingBytes = Math.max(1, options.maxPendingBytes ?? 64 * 1024);
    // Room for everything pending plus the line that goes past the bound, if it is not huge.
    this.buffer = Buffer.allocUnsafeSlow(this.maxPendingBytes + 16 * 1024);
  }

  /**
   * One complete line (newline included); pino's destination interface too.
   *
   * Lines are encoded into the buffer GROUP at a time: one call into C++ for
   * several lines, not one a line, while few lines' strings stay live for a
   * scavenge to copy. Measured with bench/instructions.mjs (instructions a
   * request without GC and compiler, then in all): pounce-debug 61.8k / 64.5k
   * encoding each line, 60.2k / 65.2k keeping a tick's lines as one string
   * (the scavenges ate the saving), 59.7k / 62.6k in groups of 8.
   */
  write(line: string): boolean {
    // line.length (UTF-16 units) <= bytes <= 3 * line.length: measure bytes only when it could matter.
    if (this.shorten && line.length * 3 > this.maxWriteBytes && Buffer.byteLength(line) > this.maxWriteBytes) {
      line = shortenLine(line, this.maxWriteBytes);
    }
    if (this.encoded + (this.group.length + line.length) * 3 > this.buffer.length) {
      this.flush();
      if (line.length * 3 > this.buffer.length) {
        // Larger than the buffer could hold: this line alone, now.
        const bytes = Buffer.from(line, 'utf8');
        writeLines(this.fd, bytes, 0, bytes.length, this.maxWriteBytes);
        return true;
      }
    }
    this.group = this.groupLines === 0 ? line : this.group + line;
    if (++this.groupLines === GROUP) this.encodeGroup();
    if (this.encoded + this.group.length * 3 > this.maxPendingBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.endOfTick);
    }
    return true;
  }

  private encodeGroup(): void {
    this.encoded += this.buffer.write(this.group, this.encoded, 'utf8');
    this.group = '';
    this.groupLines = 0;
  }

  /** Write everything logged so far, now. Safe to call from exit handlers. */
  flush(): void {
    if (this.groupLines > 0) this.encodeGroup();
    const end = this.encoded;
    if (end === 0) return;
    this.encoded = 0;
    writeLines(this.fd, this.buffer, 0, end, this.maxWriteBytes);
  }

  /** pino calls this on `logger.flush()`. */
  flushSync(): void {
    this.flush();
  }

  /** Write everything; the writer keeps working (lines after this are written at the end of their tick). */
  close(): void {
    this.flush();
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

/**
 * Write bytes[start, end) (whole lines) in writes of at most maxWriteBytes,
 * each ending on a line boundary; a single line longer than that goes alone.
 */
export function writeLines(fd: number, bytes: Buffer, start: number, end: number, maxWriteBytes: number): void {
  if (end - start <= maxWriteBytes) {
    writeAll(fd, bytes, start, end);
    return;
  }
  while (start < end) {
    let stop = Math.min(start + maxWriteBytes, end);
    if (stop < end) {
      const lastNewline = bytes.lastIndexOf(0x0a, stop - 1);
      stop = lastNewline >= start ? lastNewline + 1 : bytes.indexOf(0x0a, stop) + 1 || end;
      if (stop > end) stop = end;
    }
    writeAll(fd, bytes, start, stop);
    start = stop;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd: number, bytes: Buffer, start: number, end = bytes.length): void {
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
