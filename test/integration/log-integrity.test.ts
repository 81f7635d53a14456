import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { startPounce, sleep } from '../helpers/pounce.js';

/** Resident memory of a process, in MiB, from /proc. */
function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kb / 1024;
}

describe('no log line is lost', () => {
  it('when stdout is slow: the server waits for the reader, and every line arrives', async function () {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    // Stop reading pounce's stdout: the pipe (64 KiB) and pounce's log ring (1 MiB) fill up
    // within a few thousand requests (3 lines, ~700 bytes each).
    pounce.proc.stdout!.pause();
    const total = 4000;
    let done = 0;
    const client = async () => {
      while (done < total) {
        done++;
        const res = await fetch(`${pounce.url}/r`);
        expect(res.status).to.equal(200);
        await res.text();
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, client));
    // Wait until the pipe is full and progress stops, and stays stopped. A quiet spell is not proof of
    // a stall on a busy machine (the server or this process may just not have had the CPU): when
    // progress resumes, wait for a longer quiet spell. A server that queued lines in memory instead
    // of waiting never stalls, and runs to `total`.
    this.timeout(60_000);
    const deadline = Date.now() + 30_000;
    let quiet = 250;
    let stalled = false;
    let rssAtStall = 0;
    while (!stalled && done < total && Date.now() < deadline) {
      const before = done;
      await sleep(quiet);
      if (done !== before) continue;
      rssAtStall = rssMiB(pounce.proc.pid!);
      await sleep(700);
      stalled = done === before;
      quiet *= 2;
    }
    // Stalled: the server waits for its log reader instead of queueing lines in memory.
    expect(stalled, `no progress while the log reader is stalled (${done} of ${total} requests started)`).to.equal(true);
    expect(done).to.be.below(total);
    expect(rssMiB(pounce.proc.pid!) - rssAtStall).to.be.below(20);
    pounce.proc.stdout!.resume();
    await load;
    await pounce.waitFor(() => pounce.events('ResponseCompleted').length >= total, 10_000, 'all ResponseCompleted lines');
    await pounce.stop();
    expect(pounce.events('ResponseCompleted')).to.have.length(total);
    expect(pounce.events('RequestStarted')).to.have.length(total);
    expect(pounce.nonJson).to.deep.equal([]);
  });

  it('when the app crashes after answering: the answered request is in the log, the crash too, exit 1', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const res = await fetch(`${pounce.url}/crash`);
    expect(await res.text()).to.equal('about to crash\n');
    const { code } = await pounce.exit;
    expect(code).to.equal(1);
    const completed = pounce.events('ResponseCompleted').find((l) => l.path === '/crash');
    expect(completed).to.include({ status: 200 });
    const crash = pounce.lines.find((l) => l.level === 'fatal')!;
    expect(crash.err.message).to.equal('crash after response');
    expect(pounce.nonJson).to.deep.equal([]);
  });
});
