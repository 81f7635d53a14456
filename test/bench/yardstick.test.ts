import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'chai';
import { freePort, PounceProcess, ROOT, sleep, startPounce, stopAll, type LogLine } from '../helpers/pounce.js';

/**
 * bench/apps/node-http-access-probe.mjs is the yardstick pounce's line cost
 * is read against: bare node:http writing the same lines by hand. It is a
 * fair one only while it writes what pounce writes: the same keys, in the
 * same order, with values of the same types.
 */
describe('bench yardstick (node-http-*-probe) writes the lines pounce writes', function () {
  this.timeout(20000);
  const app = resolve(ROOT, 'bench/apps/hello-node.mjs');
  const probes: PounceProcess[] = [];

  afterEach(async () => {
    await Promise.all(probes.splice(0).map((p) => p.stop()));
    await stopAll();
  });

  async function startProbe(mode: 'access' | 'debug', extraEnv: Record<string, string> = {}): Promise<PounceProcess> {
    const port = await freePort();
    const proc = spawn(process.execPath, [resolve(ROOT, 'bench/apps/node-http-access-probe.mjs')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), PROBE: mode, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const probe = new PounceProcess(proc);
    probes.push(probe);
    probe.port = port;
    probe.url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 250; i++) {
      if (proc.exitCode !== null) throw new Error(`probe exited: ${probe.stderr}`);
      if (await fetch(probe.url + '/').then(() => true, () => false)) return probe;
      await sleep(20);
    }
    throw new Error('probe did not listen');
  }

  const shape = (line: LogLine) => Object.entries(line).map(([key, value]) => `${key}:${value === null ? 'null' : typeof value}`);

  async function linesOf(server: PounceProcess, count: number, pred: (l: LogLine) => boolean): Promise<LogLine[]> {
    const before = server.lines.filter(pred).length;
    const res = await fetch(server.url + '/', { headers: { 'user-agent': 'yardstick-check/1' } });
    expect(await res.text()).to.equal('Hello, World!');
    await server.waitFor(() => server.lines.filter(pred).length >= before + count, 5000, `${count} request lines`);
    return server.lines.filter(pred).slice(before, before + count);
  }

  // node-http-access-probe-ee: the same yardstick after making other kinds of EventEmitter (EE_KINDS).
  for (const extraEnv of [{}, { EE_KINDS: '6' }] as Record<string, string>[]) {
    const label = Object.keys(extraEnv).length ? ' (EE_KINDS=6)' : '';
    it(`access${label}: the same keys in the same order, the same value types`, async () => {
      const pounce = await startPounce({ app, args: [] });
      const probe = await startProbe('access', extraEnv);
      const isAccess = (l: LogLine) => l.logger === 'pounce.access';
      const [ours] = await linesOf(pounce, 1, isAccess);
      const [theirs] = await linesOf(probe, 1, isAccess);
      expect(shape(theirs!)).to.deep.equal(shape(ours!));
      for (const key of ['level', 'logger', 'method', 'path', 'http_version', 'status', 'bytes_sent', 'user_agent']) expect(theirs![key], key).to.equal(ours![key]);
      expect(theirs!.msg).to.match(/^127\.0\.0\.1:\d+ - "GET \/ HTTP\/1\.1" 200$/);
      expect(Date.parse(theirs!.timestamp)).to.be.closeTo(Date.now(), 10_000);
      expect(theirs!.timestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    });
  }

  it('debug: RequestStarted and ResponseCompleted with the same keys, in the same order', async () => {
    const pounce = await startPounce({ app, args: ['--lifecycle-logging', '--log-level', 'debug', '--no-access-log'] });
    const probe = await startProbe('debug');
    const isRequestEvent = (l: LogLine) => l.event === 'RequestStarted' || l.event === 'ResponseCompleted';
    const ours = await linesOf(pounce, 2, isRequestEvent);
    const theirs = await linesOf(probe, 2, isRequestEvent);
    expect(theirs.map((l) => l.event)).to.deep.equal(['RequestStarted', 'ResponseCompleted']);
    expect(ours.map((l) => l.event)).to.deep.equal(['RequestStarted', 'ResponseCompleted']);
    for (let i = 0; i < 2; i++) {
      expect(shape(theirs[i]!)).to.deep.equal(shape(ours[i]!));
      expect(theirs[i]!.msg).to.equal(ours[i]!.msg);
    }
  });
});
