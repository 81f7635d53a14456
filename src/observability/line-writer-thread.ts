/**
 * The log writer thread: waits for lines in the shared ring and writes them
 * to the fd, so that write(2) — slow and erratic on a busy disk — is paid off
 * the thread that serves requests. See LineWriter.
 */
import { workerData } from 'node:worker_threads';
import { drain, READ, ringOver, WRITE, WRITER_ALIVE, WRITER_RUNNING, WRITER_STARTING } from './log-ring.js';

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

function run(): void {
  // Until LineWriter.close() says stop.
  while (Atomics.load(control, WRITER_ALIVE) === WRITER_RUNNING) {
    const write = Atomics.load(control, WRITE);
    // Woken by the logging thread at the end of a tick that logged (the timeout only bounds a missed wake-up).
    if (write === Atomics.load(control, READ)) Atomics.wait(control, WRITE, write, 1000);
    else drain(ring, fd, maxWriteBytes);
  }
}
