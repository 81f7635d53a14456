import { writeSync } from 'node:fs';

/**
 * A byte ring in shared memory between the thread that logs (the only one
 * that appends) and the threads that write it out to the fd (a writer thread,
 * or the logging thread itself when it must: at exit, when the ring is full,
 * when no writer thread runs). Whoever writes out holds the lock, so bytes
 * leave in order and exactly once.
 *
 * Lines are appended whole and the write index moves past a line only once
 * all of it is in: a drain never sees half a line, and every write(2) it
 * makes carries whole lines.
 */
export interface LogRing {
  readonly control: Int32Array;
  readonly data: Buffer;
  readonly size: number;
}

/** Slots of `control`. */
export const WRITE = 0;
export const READ = 1;
export const LOCK = 2;
/** The writer thread's state: WRITER_STARTING (or gone), WRITER_RUNNING, WRITER_CLOSED. */
export const WRITER_ALIVE = 3;
export const WRITER_STARTING = 0;
export const WRITER_RUNNING = 1;
export const WRITER_CLOSED = 2;
/** 1 while the writer thread waits for a wake-up (it had nothing to write). */
export const WRITER_IDLE = 4;
/** Never notified: the writer thread sleeps on it between batches. */
export const PAUSE = 5;
const CONTROL_SLOTS = 6;

export function createLogRing(size: number): LogRing {
  const shared = new SharedArrayBuffer(CONTROL_SLOTS * 4 + size);
  return ringOver(shared, size);
}

/** The same ring seen from another thread (it was handed the SharedArrayBuffer). */
export function ringOver(shared: SharedArrayBuffer, size: number): LogRing {
  return {
    control: new Int32Array(shared, 0, CONTROL_SLOTS),
    data: Buffer.from(shared, CONTROL_SLOTS * 4, size),
    size,
  };
}

export function sharedBufferOf(ring: LogRing): SharedArrayBuffer {
  return ring.control.buffer as SharedArrayBuffer;
}

/**
 * Append one line if there is room for it; returns false (nothing appended)
 * when there is not. The write index moves only once the whole line is in.
 */
export function append(ring: LogRing, line: string): boolean {
  const write = Atomics.load(ring.control, WRITE);
  const free = (Atomics.load(ring.control, READ) - write - 1 + ring.size) % ring.size;
  const room = ring.size - write;
  // A UTF-16 unit is at most 3 UTF-8 bytes: when 3x fits, encode straight in and learn the length after.
  const atMost = line.length * 3;
  if (atMost <= free && atMost <= room) {
    const bytes = ring.data.write(line, write, 'utf8');
    Atomics.store(ring.control, WRITE, (write + bytes) % ring.size);
    return true;
  }
  const bytes = Buffer.byteLength(line, 'utf8');
  if (bytes > free) return false;
  if (bytes <= room) {
    ring.data.write(line, write, 'utf8');
  } else {
    const encoded = Buffer.from(line, 'utf8');
    encoded.copy(ring.data, write, 0, room);
    encoded.copy(ring.data, 0, room);
  }
  Atomics.store(ring.control, WRITE, (write + bytes) % ring.size);
  return true;
}

/**
 * Write out everything appended so far, holding the lock. Returns once the
 * bytes are handed to the kernel (or dropped because the reader is gone).
 */
export function drain(ring: LogRing, fd: number, maxWriteBytes: number): void {
  lock(ring.control);
  try {
    const read = Atomics.load(ring.control, READ);
    const write = Atomics.load(ring.control, WRITE);
    if (read === write) return;
    if (read < write) {
      writeLines(fd, ring.data, read, write, maxWriteBytes);
    } else {
      // Wrapped: the tail's whole lines, then the one line that straddles the end, then the head.
      const tail = ring.data.subarray(read, ring.size);
      const lastNewline = tail.lastIndexOf(0x0a);
      if (lastNewline !== -1) writeLines(fd, ring.data, read, read + lastNewline + 1, maxWriteBytes);
      let headStart = 0;
      if (lastNewline !== tail.length - 1) {
        const firstNewline = ring.data.indexOf(0x0a, 0);
        headStart = firstNewline !== -1 && firstNewline < write ? firstNewline + 1 : write;
        const straddling = Buffer.concat([tail.subarray(lastNewline + 1), ring.data.subarray(0, headStart)]);
        writeLines(fd, straddling, 0, straddling.length, maxWriteBytes);
      }
      if (headStart < write) writeLines(fd, ring.data, headStart, write, maxWriteBytes);
    }
    Atomics.store(ring.control, READ, write);
  } finally {
    unlock(ring.control);
  }
  // A logging thread may be waiting for room.
  Atomics.notify(ring.control, READ);
}

function lock(control: Int32Array): void {
  while (Atomics.compareExchange(control, LOCK, 0, 1) !== 0) Atomics.wait(control, LOCK, 1, 50);
}

function unlock(control: Int32Array): void {
  Atomics.store(control, LOCK, 0);
  Atomics.notify(control, LOCK, 1);
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
