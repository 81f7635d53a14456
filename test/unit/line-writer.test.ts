import { expect } from 'chai';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter } from '../../src/observability/line-writer.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Block this thread (no event loop turns) until `done()` or the deadline. */
function blockUntil(done: () => boolean, ms: number): boolean {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (done()) return true;
    Atomics.wait(sleeper, 0, 0, 5);
  }
  return done();
}

describe('LineWriter (the log destination)', () => {
  let dir: string;
  let file: string;
  let fd: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pounce-lw-'));
    file = join(dir, 'out.log');
    fd = openSync(file, 'a');
  });
  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  const line = (i: number) => JSON.stringify({ i, text: 'é✓ ' + 'x'.repeat((i * 37) % 700) }) + '\n';
  const written = () => readFileSync(file, 'utf8');

  it('writes from its own thread: lines reach the file while the logging thread is blocked', async () => {
    const writer = new LineWriter(fd);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the writer thread starts
    writer.write(line(1));
    await tick(); // the end of the tick wakes the writer thread
    // This thread now runs no event loop: only the writer thread can write the line.
    expect(blockUntil(() => statSync(file).size > 0, 2000), 'written by the writer thread').to.equal(true);
    expect(written()).to.equal(line(1));
  });

  it('keeps every line whole and in order through many wraps of a small ring, and flush() writes the rest at once', async () => {
    const writer = new LineWriter(fd, { ringBytes: 4096 });
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const l = line(i);
      expected.push(l);
      writer.write(l);
      if (i % 50 === 0) await tick();
    }
    writer.flush();
    // Nothing to wait for: flush() returns once everything is on the fd.
    expect(written()).to.equal(expected.join(''));
  });

  it('a line larger than the ring goes out whole, after the lines before it', () => {
    const writer = new LineWriter(fd, { ringBytes: 1024, writerThread: false });
    const big = JSON.stringify({ big: 'y'.repeat(5000) }) + '\n';
    writer.write(line(1));
    writer.write(big);
    writer.write(line(2));
    writer.flush();
    expect(written()).to.equal(line(1) + big + line(2));
  });

  it('without a writer thread, each tick’s lines are written at the end of the tick', async () => {
    const writer = new LineWriter(fd, { writerThread: false });
    writer.write(line(1));
    writer.write(line(2));
    expect(written()).to.equal('');
    await tick();
    expect(written()).to.equal(line(1) + line(2));
  });

  it('close() writes everything and ends the writer thread; later lines are still written, at the end of their tick', async () => {
    const writer = new LineWriter(fd);
    await new Promise((resolve) => setTimeout(resolve, 300));
    writer.write(line(1));
    writer.close();
    expect(written()).to.equal(line(1));
    writer.write(line(2));
    await tick();
    expect(written()).to.equal(line(1) + line(2));
  });

  it('with maxWriteBytes, an oversize JSON line is shortened to valid JSON that fits', () => {
    const writer = new LineWriter(fd, { maxWriteBytes: 4096, oversizeLines: 'shorten', writerThread: false });
    writer.write(JSON.stringify({ level: 'error', msg: 'boom', stack: 'z'.repeat(10_000) }) + '\n');
    writer.flush();
    const out = written();
    expect(Buffer.byteLength(out)).to.be.at.most(4096);
    expect(JSON.parse(out)).to.include({ level: 'error', msg: 'boom', truncated: true });
  });
});
