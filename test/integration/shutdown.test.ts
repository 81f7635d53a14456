import { expect } from 'chai';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startPounce, sleep } from '../helpers/pounce.js';

describe('graceful shutdown of a single process', () => {
  it('SIGTERM: in-flight request finishes with 200 and is logged, health is 503 while draining, exit 0', async () => {
    const pounce = await startPounce({
      app: 'node-hello.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--health-check-path', '/health', '--drain-delay', '0.6'],
    });
    const inflight = fetch(`${pounce.url}/slow?ms=1500`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await pounce.waitForEvent('RequestStarted', (l) => l.path === '/slow');
    pounce.proc.kill('SIGTERM');
    await pounce.waitFor((l) => l.event === 'ShutdownStarted');
    const health = await fetch(`${pounce.url}/health`);
    expect(health.status).to.equal(503);
    expect(await health.json()).to.include({ status: 'draining' });
    // Still serving during the drain delay, but every response is the connection's last.
    const during = await fetch(`${pounce.url}/during-drain`);
    expect(during.status).to.equal(200);
    expect(during.headers.get('connection')).to.equal('close');
    const result = await inflight;
    expect(result).to.deep.equal({ status: 200, body: 'slow done\n' });
    const { code } = await pounce.exit;
    expect(code).to.equal(0);
    const completed = pounce.events('ResponseCompleted').find((l) => l.path === '/slow');
    expect(completed, 'the in-flight request has its ResponseCompleted').to.include({ status: 200 });
    expect(pounce.lines.filter((l) => l.path === '/health')).to.deep.equal([]);
    expect(pounce.lines.at(-1)).to.include({ event: 'ServerStopped' });
  });

  it('shutdown timeout: a request that never finishes is cut, and the log says which connection', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--shutdown-timeout', '0.5'] });
    const socket = connect(pounce.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    const started = await pounce.waitForEvent('RequestStarted', (l) => l.path === '/hang');
    const before = Date.now();
    const { code } = await pounce.stop('SIGTERM');
    expect(code).to.equal(0);
    expect(Date.now() - before).to.be.within(400, 4000);
    const timeout = pounce.lines.find((l) => l.event === 'ShutdownTimeout')!;
    expect(timeout, 'a ShutdownTimeout line').to.exist;
    expect(timeout.level).to.equal('warn');
    expect(timeout.connection_ids).to.deep.equal([started.connection_id]);
    const closed = pounce.events('ConnectionCompleted').find((l) => l.connection_id === started.connection_id)!;
    expect(closed.reason).to.equal('shutdown');
  });

  it('a second signal exits at once', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--shutdown-timeout', '30'] });
    const socket = connect(pounce.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(200);
    pounce.proc.kill('SIGTERM');
    await pounce.waitFor((l) => l.event === 'ShutdownStarted');
    const before = Date.now();
    const { code } = await pounce.stop('SIGINT');
    expect(Date.now() - before).to.be.below(2000);
    expect(code).to.not.equal(0);
    expect(pounce.lines.some((l) => l.event === 'ShutdownForced')).to.equal(true);
  });

  it('the bundled example serves (what npm start runs)', async () => {
    const pounce = await startPounce({ app: 'examples/hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    expect(await (await fetch(pounce.url)).text()).to.equal('Hello from pounce\n');
    const who = (await (await fetch(`${pounce.url}/whoami`)).json()) as { connection_id: number; worker_id: number };
    expect(who.worker_id).to.equal(1);
    const line = await pounce.waitFor((l) => l.msg === 'whoami called');
    expect(line.connection_id).to.equal(who.connection_id);
    expect((await pounce.stop()).code).to.equal(0);
  });
});
