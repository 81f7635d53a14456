import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { CLI, FIXTURES, PounceProcess, ROOT, runPounce, sleep, startPounce, type LogLine } from '../helpers/pounce.js';

/** The part of autocannon's programmatic API these tests use (the package ships no types). */
interface LoadResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  '1xx': number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
}
type LoadRun = PromiseLike<LoadResult> & { stop(): void; on(event: 'reqError', listener: (err: Error) => void): void };
const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => LoadRun;

/** Run a bounded load against 127.0.0.1; never longer than maxMs, whatever the options say. */
async function load(options: Record<string, unknown>, maxMs: number): Promise<LoadResult & { errorMessages: string[] }> {
  const run = autocannon({ connections: 10, timeout: 5, ...options });
  const errorMessages: string[] = [];
  run.on('reqError', (err) => errorMessages.push(err.message));
  const guard = setTimeout(() => run.stop(), maxMs);
  try {
    return Object.assign(await run, { errorMessages });
  } finally {
    clearTimeout(guard);
  }
}

const responses = (r: LoadResult) => r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'];

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One GET; a fresh connection unless an agent is given (round-robin spreads connections, not requests). */
function get(url: string, agent: Agent | false = false): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no response within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

const served = (r: Reply) => JSON.parse(r.body) as { worker: number; pid: number };
const startedPids = (p: PounceProcess, slot: number) => p.lines.filter((l) => l.event === 'WorkerStarted' && l.worker_id === slot).map((l) => l.pid as number);
const count = (lines: LogLine[], pred: (l: LogLine) => boolean) => lines.filter(pred).length;

interface Spawned {
  p: PounceProcess;
  /** The supervisor's pid (from ServerStarted). */
  pid: number;
  /** SIGTERM the supervisor; resolves with the exit status once stdout has ended. */
  stop(): Promise<number | null>;
}

/**
 * pounce spawned the way the plain helper cannot:
 * - `pipe`: its stdout is a real pipe (pipe(2)), as under docker, containerd
 *   or kubelet, read through `cat`: the case where only writes of at most
 *   PIPE_BUF bytes are atomic. (The helper's stdout is a socketpair, whose
 *   writes Linux keeps whole far beyond PIPE_BUF: it would prove nothing.)
 * - `detached`: in a process group of its own, which a test can signal
 *   whole, as a terminal does on Ctrl-C.
 */
async function spawnPounce(app: string, args: string[], how: { pipe?: boolean; detached?: boolean }): Promise<Spawned> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('POUNCE_') || key.startsWith('OTEL_')) delete env[key];
  const argv = [CLI, resolve(FIXTURES, app), '--port', '0', '--log-format', 'json', ...args];
  const options = { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], detached: how.detached ?? false };
  const proc = how.pipe
    ? spawn('bash', ['-c', 'set -o pipefail; "$@" | cat', 'bash', process.execPath, ...argv], options)
    : spawn(process.execPath, argv, options);
  const p = new PounceProcess(proc);
  let pid: number | undefined;
  const signal = (target: number | undefined, sig: NodeJS.Signals) => {
    try {
      if (target !== undefined) process.kill(target, sig);
    } catch {
      // Already gone.
    }
  };
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      if (pid !== undefined) signal(pid, 'SIGTERM');
      else signal(how.detached ? -proc.pid! : proc.pid, 'SIGKILL');
    }
    const timer = setTimeout(() => signal(how.detached ? -proc.pid! : pid, 'SIGKILL'), 15_000);
    const { code } = await p.exit;
    clearTimeout(timer);
    if (!proc.stdout!.readableEnded) await once(proc.stdout!, 'end');
    return code;
  };
  try {
    const started = await p.waitForEvent('ServerStarted', undefined, 15_000);
    pid = started.pid as number;
    p.port = started.port as number;
    p.url = `http://127.0.0.1:${p.port}`;
  } catch (err) {
    await stop();
    throw err;
  }
  return { p, pid, stop };
}

async function stopCleanly(p: PounceProcess): Promise<void> {
  const result = await p.stop();
  expect(result, 'exit status').to.deep.equal({ code: 0, signal: null });
  expect(p.nonJson, 'every stdout line is JSON').to.deep.equal([]);
}

describe('workers (--workers 2): supervisor, crash recovery, drain, rolling restart, logs', function () {
  this.timeout(30_000);

  it('serves from both slots on one port, with ServerStarted once, after every WorkerStarted', async () => {
    const p = await startPounce({ app: 'workers-app.js', args: ['--workers', '2', '--lifecycle-logging', '--log-level', 'debug'] });
    const workerStarted = p.lines.filter((l) => l.event === 'WorkerStarted');
    expect(workerStarted.map((l) => l.worker_id).sort()).to.deep.equal([1, 2]);
    for (const l of workerStarted) expect(l).to.include({ logger: 'pounce.server', level: 'info', port: p.port });
    const started = p.lines.find((l) => l.event === 'ServerStarted')!;
    expect(started).to.include({ logger: 'pounce.server', workers: 2, port: p.port, url: `http://127.0.0.1:${p.port}` });
    expect(started).to.not.have.property('worker_id');
    expect(started.config).to.include({ workers: 2, host: '127.0.0.1' });
    expect(started.worker_pids).to.have.members(workerStarted.map((l) => l.pid));

    const replies = await Promise.all(Array.from({ length: 12 }, () => get(`${p.url}/`)));
    expect(replies.map((r) => r.status)).to.deep.equal(Array(12).fill(200));
    expect(new Set(replies.map((r) => served(r).worker))).to.deep.equal(new Set([1, 2]));

    await stopCleanly(p);
    const completed = p.events('ResponseCompleted');
    expect(completed).to.have.length(12);
    expect(new Set(completed.map((l) => l.worker_id))).to.deep.equal(new Set([1, 2]));
    // Connection ids are unique server-wide: worker k hands out k, k+2, k+4...
    const ids = p.events('ConnectionOpened').map((l) => [l.connection_id as number, l.worker_id as number] as const);
    expect(new Set(ids.map(([id]) => id)).size).to.equal(ids.length);
    for (const [id, worker] of ids) expect(id % 2, `connection ${id} of worker ${worker}`).to.equal(worker % 2);
    expect(count(p.lines, (l) => l.event === 'ServerStarted')).to.equal(1);
    expect(count(p.lines, (l) => l.event === 'ServerStopped')).to.equal(1);
  });

  it('kill -9 of a worker: its slot comes back with a new pid and requests keep succeeding', async () => {
    const p = await startPounce({ app: 'workers-app.js', args: ['--workers', '2', '--lifecycle-logging', '--log-level', 'debug'] });
    const [victim] = startedPids(p, 1);
    process.kill(victim!, 'SIGKILL');
    // Requests while the slot is down and coming back: the other worker serves them.
    const during = await Promise.all(Array.from({ length: 10 }, () => get(`${p.url}/`)));
    const exited = await p.waitForEvent('WorkerExited', (l) => l.pid === victim);
    expect(exited).to.include({ worker_id: 1, signal: 'SIGKILL', restart: true, level: 'warn', logger: 'pounce.server' });
    expect(exited.restart_in_ms).to.equal(100);
    const back = await p.waitForEvent('WorkerStarted', (l) => l.worker_id === 1 && l.pid !== victim);
    const after = await Promise.all(Array.from({ length: 10 }, () => get(`${p.url}/`)));
    expect([...during, ...after].map((r) => r.status)).to.deep.equal(Array(20).fill(200));
    expect(after.map((r) => served(r).pid)).to.include(back.pid);
    await stopCleanly(p);
    // The new process of slot 1 numbers its connections in a fresh block: no id is ever logged twice.
    const opened = p.events('ConnectionOpened').map((l) => l.connection_id as number);
    expect(new Set(opened).size).to.equal(opened.length);
    expect(p.events('ConnectionOpened').filter((l) => l.worker_id === 1 && l.connection_id > 1_000_000_000)).to.not.be.empty;
  });

  it('SIGTERM drains every worker: health 503 during drainDelay, the in-flight 1.5 s request gets 200 (Connection: close), exit 0', async () => {
    const p = await startPounce({
      app: 'workers-app.js',
      args: ['--workers', '2', '--drain-delay', '1', '--health-check-path', '/health', '--lifecycle-logging', '--log-level', 'debug'],
    });
    const agent = new Agent({ keepAlive: true });
    const slow = get(`${p.url}/slow?ms=1500`, agent);
    await p.waitForEvent('RequestStarted', (l) => l.path === '/slow');
    expect((await get(`${p.url}/health`)).status).to.equal(200);
    p.proc.kill('SIGTERM');
    await p.waitForEvent('ShutdownStarted');
    // Both workers answer 503 draining while they keep serving for drainDelay.
    const health = await Promise.all([get(`${p.url}/health`), get(`${p.url}/health`), get(`${p.url}/health`), get(`${p.url}/health`)]);
    for (const h of health) {
      expect(h.status).to.equal(503);
      expect(JSON.parse(h.body)).to.include({ status: 'draining' });
    }
    expect(new Set(health.map((h) => (JSON.parse(h.body) as { worker_id: number }).worker_id))).to.deep.equal(new Set([1, 2]));
    const reply = await slow;
    expect(reply.status).to.equal(200);
    // In flight when the drain began, yet told that the connection ends with it.
    expect(reply.headers.connection).to.equal('close');
    agent.destroy();
    const { code } = await p.exit;
    expect(code).to.equal(0);
    await p.stop();
    expect(p.nonJson).to.deep.equal([]);
    const completed = p.events('ResponseCompleted').find((l) => l.path === '/slow');
    expect(completed).to.include({ status: 200 });
    const index = (pred: (l: LogLine) => boolean) => p.lines.findIndex(pred);
    expect(index((l) => l === completed)).to.be.lessThan(index((l) => l.event === 'ServerStopped'));
    const exits = p.lines.filter((l) => l.event === 'WorkerExited');
    expect(exits.map((l) => [l.worker_id, l.code, l.restart, l.reason]).sort()).to.deep.equal([
      [1, 0, false, 'drained'],
      [2, 0, false, 'drained'],
    ]);
    expect(p.lines.at(-1)).to.include({ event: 'ServerStopped', exit_code: 0 });
  });

  it("Ctrl-C in a terminal (SIGINT to the whole process group): workers wait for the supervisor's drain, in-flight requests finish", async () => {
    const { p, pid, stop } = await spawnPounce('workers-app.js', ['--workers', '2', '--lifecycle-logging', '--log-level', 'debug'], { detached: true });
    try {
      const slow = get(`${p.url}/slow?ms=1000`);
      await p.waitForEvent('RequestStarted', (l) => l.path === '/slow');
      process.kill(-pid, 'SIGINT');
      const reply = await slow;
      expect(reply.status).to.equal(200);
      const { code } = await p.exit;
      expect(code).to.equal(0);
    } finally {
      await stop();
    }
    expect(p.nonJson).to.deep.equal([]);
    expect(p.lines.filter((l) => l.event === 'ShutdownStarted')).to.have.length(1);
    expect(p.lines.find((l) => l.event === 'ShutdownStarted')).to.include({ signal: 'SIGINT' }).and.not.have.property('worker_id');
    expect(p.events('ResponseCompleted').find((l) => l.path === '/slow')).to.include({ status: 200 });
    expect(p.lines.filter((l) => l.event === 'WorkerExited').map((l) => [l.code, l.signal, l.reason])).to.deep.equal([
      [0, null, 'drained'],
      [0, null, 'drained'],
    ]);
  });

  it('a second SIGTERM exits at once, without waiting for the requests in flight', async () => {
    const p = await startPounce({ app: 'workers-app.js', args: ['--workers', '2', '--lifecycle-logging', '--log-level', 'debug'] });
    const slow = get(`${p.url}/slow?ms=10000`).catch((err: Error) => err);
    await p.waitForEvent('RequestStarted', (l) => l.path === '/slow');
    p.proc.kill('SIGTERM');
    await p.waitForEvent('ShutdownStarted');
    const second = Date.now();
    p.proc.kill('SIGTERM');
    const { code } = await p.exit;
    expect(Date.now() - second, 'ms to exit after the second signal').to.be.below(1500);
    expect(code).to.equal(143);
    expect(await slow).to.be.instanceOf(Error);
    await p.stop();
    expect(p.nonJson).to.deep.equal([]);
    expect(p.lines.find((l) => l.event === 'ShutdownForced')).to.include({ level: 'warn', signal: 'SIGTERM' });
    expect(p.lines.at(-1)).to.include({ event: 'ServerStopped', exit_code: 143 });
  });

  it('SIGHUP under load: rolling restart renews both slots with zero failed requests', async () => {
    const p = await startPounce({ app: 'workers-app.js', args: ['--workers', '2'] });
    const before = [...startedPids(p, 1), ...startedPids(p, 2)];
    // Long enough for both slots to roll while the load runs, even with the CPU saturated (2 cores).
    const running = load({ url: `${p.url}/`, duration: 7 }, 10_000);
    await sleep(500);
    p.proc.kill('SIGHUP');
    const rolled = await p.waitForEvent('RollingRestartCompleted', undefined, 12_000);
    const result = await running;
    const loadEnded = Date.now();
    expect(result.errorMessages, 'client errors').to.deep.equal([]);
    expect(result).to.include({ errors: 0, timeouts: 0, non2xx: 0 });
    expect(result['2xx']).to.be.greaterThan(500);
    // Both old workers were drained while the load was running.
    const replacedAt = p.lines.filter((l) => l.event === 'WorkerExited').map((l) => Date.parse(l.timestamp));
    expect(replacedAt).to.have.length(2);
    for (const at of replacedAt) expect(at, 'replaced during the load').to.be.lessThan(loadEnded);
    const after = [startedPids(p, 1).at(-1)!, startedPids(p, 2).at(-1)!];
    for (const pid of after) expect(before).to.not.include(pid);
    expect(rolled.worker_pids).to.deep.equal(after);
    const replaced = p.lines.filter((l) => l.event === 'WorkerExited');
    expect(replaced.map((l) => [l.pid, l.reason, l.restart, l.code])).to.have.deep.members(before.map((pid) => [pid, 'replaced', false, 0]));
    const replies = await Promise.all(Array.from({ length: 6 }, () => get(`${p.url}/`)));
    for (const r of replies) expect(after).to.include(served(r).pid);
    await stopCleanly(p);
  });

  it('logs under load with 2 workers: every line whole JSON of at most PIPE_BUF bytes, one ResponseCompleted per response', async () => {
    const { p, stop } = await spawnPounce('workers-app.js', ['--workers', '2', '--lifecycle-logging', '--log-level', 'debug'], { pipe: true });
    const amount = 4000;
    let counted: LoadResult;
    let timed: LoadResult;
    try {
      // Phase 1, bounded by count: autocannon stops after its last response, so nothing is abandoned.
      counted = await load({ url: `${p.url}/log/counted`, amount }, 15_000);
      // Phase 2, bounded by time: autocannon abandons the requests in flight when it stops.
      timed = await load({ url: `${p.url}/log/timed`, duration: 2 }, 4000);
    } finally {
      expect(await stop(), 'exit status').to.equal(0);
    }
    expect(p.nonJson.slice(0, 3), 'every stdout line is JSON').to.deep.equal([]);
    expect(p.stdoutText.endsWith('\n'), 'no partial last line').to.equal(true);
    const rawLines = p.stdoutText.split('\n').slice(0, -1);
    expect(rawLines.length).to.equal(p.lines.length);
    const sizes = rawLines.map((l) => Buffer.byteLength(l) + 1);
    // A loop, not Math.max(...sizes): the run logs as many lines as the machine is fast, more than a call takes arguments.
    const largest = sizes.reduce((max, s) => (s > max ? s : max), 0);
    expect(largest, 'largest line (bytes)').to.be.at.most(4096);
    expect(sizes.filter((s) => s > 3500), 'lines near PIPE_BUF').to.not.be.empty;
    const shortened = p.lines.filter((l) => l.truncated === true);
    expect(shortened, 'oversize lines shortened, still JSON').to.not.be.empty;
    for (const l of shortened) expect(l).to.include({ logger: 'pounce.app', msg: 'an oversize line' }).and.have.property('original_bytes').greaterThan(4096);

    const of = (event: string, path: string) => p.events(event).filter((l) => l.path === path);
    expect(counted.errors).to.equal(0);
    expect(responses(counted)).to.equal(amount);
    expect(of('ResponseCompleted', '/log/counted')).to.have.length(amount);
    expect(of('RequestStarted', '/log/counted')).to.have.length(amount);
    expect(of('ClientDisconnected', '/log/counted')).to.have.length(0);
    expect(new Set(of('ResponseCompleted', '/log/counted').map((l) => l.worker_id))).to.deep.equal(new Set([1, 2]));

    // Every request logged as started ended as completed or disconnected: none as nothing.
    const started = of('RequestStarted', '/log/timed').length;
    const completed = of('ResponseCompleted', '/log/timed').length;
    const disconnected = of('ClientDisconnected', '/log/timed').length;
    const received = responses(timed);
    expect(received).to.be.greaterThan(0);
    expect(started).to.equal(completed + disconnected);
    // At the stop, at most one request per connection was in flight: abandoned, or answered but unread.
    expect(completed).to.be.within(received, received + 10);
    expect(completed + disconnected).to.be.within(received, received + 10);

    // Every connection opened was completed, and no connection id was used twice.
    const opened = p.events('ConnectionOpened').map((l) => l.connection_id as number);
    expect(new Set(opened).size).to.equal(opened.length);
    expect(p.events('ConnectionCompleted').map((l) => l.connection_id as number)).to.have.members(opened);
  });

  it('a worker that keeps crashing exhausts the restart budget: one clear error line, exit 1', async () => {
    // Each worker dies 300 ms after it starts serving, maybe before the other one listens: a crash all the same.
    const p = await startPounce({ app: 'workers-crash.js', args: ['--workers', '2'], ready: (l) => l.event === 'WorkerStarted' });
    const { code } = await p.exit;
    await p.stop();
    expect(code).to.equal(1);
    expect(p.nonJson).to.deep.equal([]);
    const restarts = p.lines.filter((l) => l.event === 'WorkerExited' && l.restart === true);
    expect(restarts).to.have.length(5);
    // Backoff: each slot's delay doubles from 100 ms.
    for (const slot of [1, 2]) {
      const delays = restarts.filter((l) => l.worker_id === slot).map((l) => l.restart_in_ms as number);
      expect(delays).to.deep.equal([100, 200, 400].slice(0, delays.length));
    }
    const errors = p.lines.filter((l) => l.logger === 'pounce.server' && l.level === 'error');
    expect(errors).to.have.length(1);
    expect(errors[0]).to.include({ event: 'RestartBudgetExhausted', restarts: 5, window_s: 60 });
    expect(errors[0]!.msg).to.match(/restart budget exhausted/);
    expect(p.lines.at(-1)).to.include({ event: 'ServerStopped', exit_code: 1 });
  });

  it('a worker that cannot load the app fails the whole start, reported once (exit 2)', async () => {
    const app = resolve(FIXTURES, 'workers-broken.js');
    const { code, stdout, stderr } = await runPounce([app, '--port', '0', '--log-format', 'json', '--workers', '2']);
    expect(code).to.equal(2);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as LogLine);
    const failures = lines.filter((l) => l.event === 'StartupFailed');
    expect(failures, stdout + stderr).to.have.length(1);
    expect(failures[0]).to.include({ level: 'error', logger: 'pounce.server' });
    expect(failures[0]!.msg).to.match(/cannot load app .*workers-broken\.js.*DATABASE_URL is not set/);
    expect(lines.filter((l) => l.event === 'ServerStarted')).to.have.length(0);
  });

  it('a worker that does not finish draining in time is killed, and the log names its slot and cut connections', async () => {
    const p = await startPounce({
      app: 'workers-stuck.js',
      args: ['--workers', '2', '--shutdown-timeout', '0.5', '--lifecycle-logging', '--log-level', 'debug'],
    });
    const hanging = get(`${p.url}/hang`).catch((err: Error) => err);
    const started = await p.waitForEvent('RequestStarted', (l) => l.path === '/hang');
    p.proc.kill('SIGTERM');
    const { code } = await p.exit;
    await p.stop();
    expect(code).to.equal(0);
    expect(await hanging).to.be.instanceOf(Error);
    const killed = p.lines.filter((l) => l.event === 'WorkerKilled');
    expect(killed.map((l) => l.worker_id).sort()).to.deep.equal([1, 2]);
    const cut = killed.find((l) => l.worker_id === started.worker_id)!;
    expect(cut).to.include({ level: 'warn', after_s: 5.5 });
    expect(cut.connection_ids).to.deep.equal([started.connection_id]);
    expect(cut.msg).to.include(`worker ${started.worker_id}`).and.include(`cutting connection(s) ${started.connection_id}`);
    expect(p.lines.filter((l) => l.event === 'WorkerExited').map((l) => l.signal)).to.deep.equal(['SIGKILL', 'SIGKILL']);
  });
});
