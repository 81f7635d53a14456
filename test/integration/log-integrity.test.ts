import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { startPounce, sleep, type PounceProcess } from '../helpers/pounce.js';

/** Resident memory of a process, in MiB, from /proc. */
function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kb / 1024;
}

/**
 * Load with 8 keep-alive clients, each request on its own path (/k/<n>), until
 * `stopAfterMs`; records when each response arrived.
 */
async function loadUntil(pounce: PounceProcess, stopAfterMs: number): Promise<Map<string, number>> {
  const answered = new Map<string, number>();
  const until = Date.now() + stopAfterMs;
  let n = 0;
  const client = async () => {
    while (Date.now() < until) {
      const path = `/k/${++n}`;
      try {
        const res = await fetch(`${pounce.url}${path}`);
        await res.text();
        if (res.status === 200) answered.set(path, Date.now());
      } catch {
        return; // the server is gone
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  return answered;
}

describe('no log line is lost', () => {
  it('kill -9 under load: every request answered before the kill has its lines (at most the last tick is lost)', async function () {
    this.timeout(20_000);
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const load = loadUntil(pounce, 5000);
    await sleep(1500);
    const killedAt = Date.now();
    pounce.proc.kill('SIGKILL');
    const answered = await load;
    await pounce.stop();
    expect(pounce.nonJson, 'no torn line').to.deep.equal([]);
    const completed = new Set(pounce.events('ResponseCompleted').map((l) => l.path as string));
    const started = new Set(pounce.events('RequestStarted').map((l) => l.path as string));
    // A response that reached the client 100 ms before the kill had its tick end long before.
    const before = [...answered].filter(([, at]) => at < killedAt - 100).map(([path]) => path);
    expect(before.length, 'requests answered before the kill').to.be.greaterThan(100);
    const missing = before.filter((path) => !completed.has(path) || !started.has(path));
    expect(missing, 'answered but not logged').to.deep.equal([]);
  });

  it('SIGTERM under load: every answered request has its lines, and the stream ends with a whole line', async function () {
    this.timeout(20_000);
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const load = loadUntil(pounce, 5000);
    await sleep(1500);
    pounce.proc.kill('SIGTERM');
    const answered = await load;
    const { code } = await pounce.exit;
    await pounce.stop(); // (exited: only waits for stdout to end)
    expect(code).to.equal(0);
    expect(pounce.nonJson).to.deep.equal([]);
    expect(pounce.stdoutText.endsWith('\n')).to.equal(true);
    expect(answered.size).to.be.greaterThan(100);
    const completed = new Set(pounce.events('ResponseCompleted').map((l) => l.path as string));
    expect([...answered.keys()].filter((path) => !completed.has(path)), 'answered but not logged').to.deep.equal([]);
    expect(pounce.lines.at(-1)).to.include({ event: 'ServerStopped' });
  });

  it('when stdout is slow: the server waits for the reader, and every line arrives', async function () {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    // Stop reading pounce's stdout: the pipe (64 KiB) and pounce's pending lines (64 KiB) fill up
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
