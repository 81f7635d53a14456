import { expect } from 'chai';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter } from '../../src/observability/line-writer.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

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

  it("writes each tick's lines at the end of the tick, in order", async () => {
    const writer = new LineWriter(fd);
    writer.write(line(1));
    writer.write(line(2));
    expect(written()).to.equal('');
    await tick();
    expect(written()).to.equal(line(1) + line(2));
  });

  it('holds at most maxPendingBytes: beyond that it writes at once, synchronously, every line whole and in order', async () => {
    const writer = new LineWriter(fd, { maxPendingBytes: 4096 });
    const expected: string[] = [];
    let bytes = 0;
    for (let i = 0; i < 3000; i++) {
      const l = line(i);
      expected.push(l);
      bytes += Buffer.byteLength(l);
      writer.write(l);
      // Never more than the bound waits in memory.
      expect(bytes - fstatSync(fd).size).to.be.at.most(4096);
      if (i % 500 === 0) await tick();
    }
    writer.flush();
    // Nothing to wait for: flush() returns once everything is on the fd.
    expect(written()).to.equal(expected.join(''));
  });

  it('flush() writes everything now; later lines are still written at the end of their tick', async () => {
    const writer = new LineWriter(fd);
    writer.write(line(1));
    writer.close();
    expect(written()).to.equal(line(1));
    writer.write(line(2));
    await tick();
    expect(written()).to.equal(line(1) + line(2));
  });

  it('with maxWriteBytes, an oversize JSON line is shortened to valid JSON that fits', () => {
    const writer = new LineWriter(fd, { maxWriteBytes: 4096, oversizeLines: 'shorten' });
    writer.write(JSON.stringify({ level: 'error', msg: 'boom', stack: 'z'.repeat(10_000) }) + '\n');
    writer.flush();
    const out = written();
    expect(Buffer.byteLength(out)).to.be.at.most(4096);
    expect(JSON.parse(out)).to.include({ level: 'error', msg: 'boom', truncated: true });
  });
});
