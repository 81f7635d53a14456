/**
 * The log writer thread: waits for lines in the shared ring and writes them
 * to the fd, so that write(2) — slow and erratic on a busy disk — is paid off
 * the thread that serves requests. See LineWriter.
 */
import { workerData } from 'node:worker_threads';
import { drain, PAUSE, READ, ringOver, WRITE, WRITER_ALIVE, WRITER_IDLE, WRITER_RUNNING, WRITER_STARTING } from './log-ring.js';

const BATCH_PAUSE_MS = 1;

export interface WriterThreadData {
  shared: SharedArrayBuffer;
  size: number;
  fd: number;
  maxWriteBytes: number;
}

const { shared, size, fd, maxWriteBytes } = workerData as WriterThreadData;
const ring = ringOver(shared, size);
const control = ring.control;

// Not if the writer was closed before this thread got going.
if (Atomics.compareExchange(control, WRITER_ALIVE, WRITER_STARTING, WRITER_RUNNING) === WRITER_STARTING) {
  try {
    run();
  } finally {
    // Gone (an error): the logging thread writes from now on.
    Atomics.compareExchange(control, WRITER_ALIVE, WRITER_RUNNING, WRITER_STARTING);
  }
}

/**
 * Under load: write what there is, then pause a millisecond so that the next
 * write(2) carries a millisecond of lines, not one tick's. Idle: say so and
 * sleep until the logging thread wakes us (it does only then, so a busy
 * server makes no wake-up calls at all).
 */
function run(): void {
  // Until LineWriter.close() says stop.
  while (Atomics.load(control, WRITER_ALIVE) === WRITER_RUNNING) {
    if (Atomics.load(control, WRITE) !== Atomics.load(control, READ)) {
      drain(ring, fd, maxWriteBytes);
      Atomics.wait(control, PAUSE, 0, BATCH_PAUSE_MS);
      continue;
    }
    Atomics.store(control, WRITER_IDLE, 1);
    // A line appended before the flag was up would find no one to wake: look again.
    const write = Atomics.load(control, WRITE);
    if (write === Atomics.load(control, READ)) Atomics.wait(control, WRITE, write, 1000);
    Atomics.store(control, WRITER_IDLE, 0);
  }
}
