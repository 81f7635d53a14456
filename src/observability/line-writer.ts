import { writeSync } from 'node:fs';

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
  private readonly flushBound = () => this.flush();

  constructor(
    readonly fd: number,
    options: LineWriterOptions = {},
  ) {
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.maxWriteBytes = options.maxWriteBytes ?? Infinity;
  }

  /** pino's destination interface: one call per complete line (newline included). */
  write(line: string): boolean {
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
