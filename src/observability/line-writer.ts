import { fstatSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { append, createLogRing, drain, sharedBufferOf, WRITE, WRITER_ALIVE, WRITER_CLOSED, WRITER_IDLE, WRITER_RUNNING, writeLines, type LogRing } from './log-ring.js';
import type { WriterThreadData } from './line-writer-thread.js';

export interface LineWriterOptions {
  /** Size of the shared ring the lines wait in (default 1 MiB): the most log memory a process holds. */
  ringBytes?: number;
  /** Write from a separate thread (default true); false: at the end of every tick, synchronously. */
  writerThread?: boolean;
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
 * Nothing is funnelled through the supervisor: no extra copy, no IPC. A crash
 * or an exit loses no line (they are flushed); `kill -9` loses what the writer
 * thread had not yet written, usually the last tick's lines.
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
 * The log destination. Lines go into a fixed ring of shared memory; a writer
 * thread writes them to the fd — under load one write(2) per millisecond of
 * lines, when idle woken at the end of the tick that logged — so the serving
 * thread never waits on write(2): on a disk under writeback a write to a log
 * file costs tens of µs, at random.
 *
 * Nothing is lost and memory stays bounded:
 * - the ring is fixed (1 MiB): when the writer thread falls behind (a slow
 *   disk, a stalled stdout reader) the serving thread writes the ring out
 *   itself, synchronously, so a slow reader holds the server back instead of
 *   growing memory or dropping lines;
 * - flush() (exit, crash, shutdown) writes out everything in the ring from the
 *   calling thread, whatever the writer thread is doing: a line logged before
 *   the exit is on the fd when flush() returns;
 * - without a writer thread (it could not start) every tick's lines are
 *   written synchronously at the end of the tick, one write(2) per batch.
 *
 * Whoever writes holds the ring's lock, so lines leave in order, exactly once,
 * and each write(2) carries whole lines (at most maxWriteBytes, if set).
 */
export class LineWriter {
  private readonly ring: LogRing;
  private readonly maxWriteBytes: number;
  private readonly shorten: boolean;
  private scheduled = false;
  private readonly endOfTick = () => this.wake();

  constructor(
    readonly fd: number,
    options: LineWriterOptions = {},
  ) {
    this.maxWriteBytes = options.maxWriteBytes ?? Infinity;
    this.shorten = options.oversizeLines === 'shorten' && Number.isFinite(this.maxWriteBytes);
    this.ring = createLogRing(options.ringBytes ?? 1024 * 1024);
    if (options.writerThread ?? true) startWriterThread(this.ring, fd, this.maxWriteBytes);
  }

  /** pino's destination interface: one call per complete line (newline included). */
  write(line: string): boolean {
    // line.length (UTF-16 units) <= bytes <= 3 * line.length: measure bytes only when it could matter.
    if (this.shorten && line.length * 3 > this.maxWriteBytes && Buffer.byteLength(line) > this.maxWriteBytes) {
      line = shortenLine(line, this.maxWriteBytes);
    }
    if (!append(this.ring, line)) {
      // No room: write the ring out ourselves; a line too big for the ring goes straight out.
      this.flush();
      if (!append(this.ring, line)) {
        const bytes = Buffer.from(line, 'utf8');
        writeLines(this.fd, bytes, 0, bytes.length, this.maxWriteBytes);
        return true;
      }
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.endOfTick);
    }
    return true;
  }

  private wake(): void {
    this.scheduled = false;
    const control = this.ring.control;
    if (Atomics.load(control, WRITER_ALIVE) !== WRITER_RUNNING) this.flush();
    // Busy, it writes these lines in its next batch: no wake-up call (a futex syscall) needed.
    else if (Atomics.load(control, WRITER_IDLE) === 1) Atomics.notify(control, WRITE, 1);
  }

  /** Write everything logged so far, now, from this thread. Safe to call from exit handlers. */
  flush(): void {
    drain(this.ring, this.fd, this.maxWriteBytes);
  }

  /** pino calls this on `logger.flush()`. */
  flushSync(): void {
    this.flush();
  }

  /**
   * Stop the writer thread (it finishes what it is writing and ends) and write
   * everything; lines logged after this are written at the end of their tick.
   */
  close(): void {
    Atomics.store(this.ring.control, WRITER_ALIVE, WRITER_CLOSED);
    Atomics.notify(this.ring.control, WRITE, 1);
    this.flush();
  }
}

function startWriterThread(ring: LogRing, fd: number, maxWriteBytes: number): void {
  // Compiled, this module is line-writer.js next to line-writer-thread.js; run from source (tests), .ts.
  const file = new URL(import.meta.url.endsWith('.ts') ? './line-writer-thread.ts' : './line-writer-thread.js', import.meta.url);
  const data: WriterThreadData = { shared: sharedBufferOf(ring), size: ring.size, fd, maxWriteBytes };
  try {
    // No execArgv, no NODE_OPTIONS: a --import preload (an OpenTelemetry SDK) runs in the serving thread only.
    const { NODE_OPTIONS: _preloads, ...env } = process.env;
    const thread = new Worker(file, { workerData: data, stdout: false, stderr: false, execArgv: [], env });
    // Never keeps the process alive; if it fails, the serving thread writes (see wake()).
    thread.unref();
    thread.on('error', () => {});
  } catch {
    // No thread: every tick's lines are written synchronously.
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
