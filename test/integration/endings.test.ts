import { expect } from 'chai';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { startPounce, rawExchange, sleep, type PounceProcess } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

/** A raw connection that collects everything the server sends until it closes. */
async function rawConnection(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => (text += c));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => undefined);
  return { socket, received: () => text, closed };
}

const statusLines = (text: string) => text.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];

/**
 * Every way a request can end says who ended it: the client, the server (a
 * timeout, the drain, a protocol error) or the app — in the event, its level
 * and the connection's reason.
 */
describe('who ended it: every ending in the record', function () {
  this.timeout(30_000);

  it('request timeout (client got 408 mid-body): RequestAborted by the server at warn, reason timeout', async () => {
    const pounce = await startPounce({
      app: 'node-hello.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--header-timeout', '0.5', '--request-timeout', '1'],
    });
    const c = await rawConnection(pounce.port);
    // The head arrives, the body never finishes.
    c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial');
    await c.closed;
    expect(statusLines(c.received())).to.deep.equal(['HTTP/1.1 408 Request Timeout']);
    const aborted = await pounce.waitForEvent('RequestAborted', (l) => l.path === '/echo');
    expect(aborted).to.include({ level: 'warn', ended_by: 'server', cause: 'request_timeout', status: 408, during_streaming: false });
    const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === aborted.connection_id);
    expect(closed.reason).to.equal('timeout');
    expect(pounce.events('ClientDisconnected'), 'the client did nothing').to.deep.equal([]);
    await pounce.stop();
    expectValidLifecycleLines(pounce.lines);
  });

  it('shutdown timeout: the request cut by the drain is RequestAborted by the server, reason shutdown', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--shutdown-timeout', '0.5'] });
    const c = await rawConnection(pounce.port);
    c.socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(200);
    pounce.proc.kill('SIGTERM');
    await c.closed;
    expect((await pounce.exit).code).to.equal(0);
    const aborted = pounce.events('RequestAborted').find((l) => l.path === '/hang');
    expect(aborted).to.include({ level: 'warn', ended_by: 'server', cause: 'shutdown_timeout' });
    const closed = pounce.events('ConnectionCompleted').find((l) => l.connection_id === aborted!.connection_id);
    expect(closed?.reason).to.equal('shutdown');
    expect(pounce.events('ClientDisconnected')).to.deep.equal([]);
    expectValidLifecycleLines(pounce.lines);
  });

  it('a bad chunked body after the app was called: the server ended it (protocol_error), reason error', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'info'] });
    const c = await rawConnection(pounce.port);
    c.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    await sleep(100);
    c.socket.write('zz\r\n');
    await c.closed;
    expect(statusLines(c.received())).to.deep.equal(['HTTP/1.1 400 Bad Request']);
    const aborted = await pounce.waitForEvent('RequestAborted', (l) => l.path === '/echo');
    expect(aborted).to.include({ level: 'warn', ended_by: 'server', cause: 'protocol_error', status: 400 });
    const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === aborted.connection_id);
    expect(closed).to.include({ reason: 'error', level: 'warn' });
    expect(pounce.events('ClientDisconnected')).to.deep.equal([]);
    await pounce.stop();
  });

  it('HTTP/1.1 without Host: a 400 with its request line, reason error at warn', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const { response } = await rawExchange(pounce.port, 'GET /no-host HTTP/1.1\r\n\r\n');
    expect(response).to.match(/^HTTP\/1\.1 400 /);
    const done = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/no-host');
    expect(done.status).to.equal(400);
    const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === done.connection_id);
    expect(closed).to.include({ reason: 'error', level: 'warn' });
    // HTTP/1.0 needs no Host.
    const old = await rawExchange(pounce.port, 'GET /old HTTP/1.0\r\n\r\n');
    expect(old.response).to.match(/^HTTP\/1\.1 200 /);
    await pounce.stop();
    expectValidLifecycleLines(pounce.lines);
  });

  it('the client leaving is still ClientDisconnected, and its bytes count in total_bytes_sent', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const c = await rawConnection(pounce.port);
    c.socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!c.received().includes('chunk 2')) await sleep(20);
    c.socket.destroy();
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/stream');
    expect(gone.bytes_sent).to.be.greaterThan(0);
    const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === gone.connection_id);
    expect(closed).to.include({ reason: 'client_disconnect', total_bytes_sent: gone.bytes_sent });
    const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === '/stream');
    expect(access).to.include({ status: 200, complete: false, ended_by: 'client', bytes_sent: gone.bytes_sent });
    await pounce.stop();
  });

  it('a head set with writeHead but never written: the client that leaves is a 499, not streaming', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const c = await rawConnection(pounce.port);
    c.socket.write('GET /head-then-hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await pounce.waitForEvent('RequestStarted', (l) => l.path === '/head-then-hang');
    await sleep(100);
    c.socket.destroy();
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/head-then-hang');
    expect(c.received(), 'nothing reached the client').to.equal('');
    expect(gone).to.include({ during_streaming: false, bytes_sent: 0 });
    const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === '/head-then-hang');
    expect(access).to.include({ status: 499, complete: false, ended_by: 'client' });
    await pounce.stop();
  });

  it('pipelined requests still waiting their turn when the client leaves: each one is logged, 499, none lost', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const c = await rawConnection(pounce.port);
    // Three requests in one write: node:http calls the app for each at once and queues the later responses.
    c.socket.write(
      'GET /slow?ms=500 HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /status?code=201 HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /status?code=202 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    while (pounce.events('RequestStarted').length < 3) await sleep(20);
    await sleep(100);
    c.socket.destroy();
    const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'client_disconnect');
    expect(c.received(), 'no response went out').to.equal('');
    const gone = pounce.events('ClientDisconnected').filter((l) => l.connection_id === closed.connection_id);
    expect(gone.map((l) => l.path)).to.deep.equal(['/slow', '/status', '/status']);
    // The queued responses had their heads rendered (res.headersSent) but never written: not streaming.
    for (const l of gone) expect(l).to.include({ during_streaming: false, bytes_sent: 0 });
    const access = pounce.lines.filter((l) => l.logger === 'pounce.access' && l.connection_id === closed.connection_id);
    expect(access.map((l) => [l.path, l.status, l.complete, l.ended_by])).to.deep.equal([
      ['/slow', 499, false, 'client'],
      ['/status', 499, false, 'client'],
      ['/status', 499, false, 'client'],
    ]);
    // Every request's lines come before its connection's last one.
    const lastRequestLine = Math.max(...[...gone, ...access].map((l) => pounce.lines.indexOf(l)));
    expect(lastRequestLine).to.be.lessThan(pounce.lines.indexOf(closed));
    await pounce.stop();
    expectValidLifecycleLines(pounce.lines);
  });
});

describe('no answer inside an answer (400 injection)', function () {
  this.timeout(20_000);
  let pounce: PounceProcess;
  before(async () => {
    pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
  });
  after(() => pounce.stop());

  it('a bad chunked body after a complete response: only the 200 goes out', async () => {
    // The app answers without reading the body; the broken chunk arrives after.
    const c = await rawConnection(pounce.port);
    c.socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    await Promise.race([c.closed, sleep(2000)]);
    c.socket.destroy();
    expect(statusLines(c.received())).to.deep.equal(['HTTP/1.1 200 OK']);
  });

  it('a bad chunked body during a streamed response: nothing is written into the body', async () => {
    const c = await rawConnection(pounce.port);
    c.socket.write('POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    while (!c.received().includes('chunk 1')) await sleep(20);
    c.socket.write('zz\r\n');
    await Promise.race([c.closed, sleep(3000)]);
    c.socket.destroy();
    const text = c.received();
    expect(statusLines(text)).to.deep.equal(['HTTP/1.1 200 OK']);
    expect(text).to.not.match(/Bad Request/);
    const aborted = await pounce.waitForEvent('RequestAborted', (l) => l.path === '/stream');
    expect(aborted).to.include({ ended_by: 'server', cause: 'protocol_error', during_streaming: true, status: 200 });
  });
});

describe('smaller truths', function () {
  this.timeout(20_000);

  it('absolute-form targets log their path, and reach the health endpoint', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--health-check-path', '/health'] });
    const health = await rawExchange(pounce.port, 'GET http://evil.example/health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    expect(health.response).to.match(/"status":"ok"/);
    await rawExchange(pounce.port, 'GET http://example.com/p/q?token=secret HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    const done = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/p/q');
    expect(done.path).to.equal('/p/q');
    expect(pounce.lines.filter((l) => JSON.stringify(l).includes('secret'))).to.deep.equal([]);
    expect(pounce.lines.filter((l) => typeof l.path === 'string' && l.path.includes('health'))).to.deep.equal([]);
    await pounce.stop();
  });

  it('C1 control characters in a User-Agent never reach the log raw; quotes in a path are escaped in the text message', async () => {
    const pounce = await startPounce({ app: 'node-hello.js' });
    // Raw bytes 0x85 (NEL) and 0x9b (CSI, which drives terminals): node reads header bytes as latin1.
    const c = await rawConnection(pounce.port);
    c.socket.write(Buffer.concat([Buffer.from('GET /a"b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: evil'), Buffer.from([0x85]), Buffer.from('agent'), Buffer.from([0x9b]), Buffer.from('[2J\r\n\r\n')]));
    await c.closed;
    const line = await pounce.waitFor((l) => l.logger === 'pounce.access');
    expect(line.user_agent).to.equal('evil%85agent%9B[2J');
    expect(line.msg).to.contain('"GET /a%22b HTTP/1.1" 200');
    expect(pounce.stdoutText).to.not.match(/[\u0080-\u009f]/);
    await pounce.stop();
  });
});

describe('behind a trusted proxy (--forwarded-allow-ips)', function () {
  this.timeout(20_000);

  const request = (port: number, headers: string) =>
    rawExchange(port, `GET /stream HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`).catch(() => undefined);

  let seen = new Set<number>();
  beforeEach(() => (seen = new Set<number>()));

  async function disconnectFrom(pounce: PounceProcess, headers: string): Promise<string> {
    const c = await rawConnection(pounce.port);
    c.socket.write(`GET /stream HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    while (!c.received().includes('chunk 1')) await sleep(20);
    c.socket.destroy();
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => !seen.has(l.connection_id));
    seen.add(gone.connection_id);
    return gone.client_addr as string;
  }

  it('a trusted peer: client_addr from X-Forwarded-For / Forwarded, scheme from the proxy; a spoofed left part is ignored', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8'] });
    expect(await disconnectFrom(pounce, 'X-Forwarded-For: 203.0.113.7\r\n')).to.equal('203.0.113.7');
    // The client sent "1.2.3.4" itself; the proxy 10.1.1.1 appended what it saw.
    expect(await disconnectFrom(pounce, 'X-Forwarded-For: 1.2.3.4, 198.51.100.9, 10.1.1.1\r\n')).to.equal('198.51.100.9');
    expect(await disconnectFrom(pounce, 'Forwarded: for="[2001:db8::1]:4711";proto=https\r\n')).to.equal('2001:db8::1');
    await request(pounce.port, 'X-Forwarded-For: 192.0.2.44\r\nX-Forwarded-Proto: https\r\n');
    const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.client_addr === '192.0.2.44');
    expect(access.msg).to.match(/^192\.0\.2\.44:/);
    // Connection-level events stay the peer's.
    const conn = await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'client_disconnect');
    expect(conn.client_addr).to.equal('127.0.0.1');
    await pounce.stop();
  });

  it('an untrusted peer (or no option): the headers are ignored', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'info', '--forwarded-allow-ips', '10.0.0.0/8'] });
    expect(await disconnectFrom(pounce, 'X-Forwarded-For: 203.0.113.7\r\nForwarded: for=198.51.100.1\r\n')).to.equal('127.0.0.1');
    await pounce.stop();
    const off = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'info'] });
    seen = new Set<number>();
    expect(await disconnectFrom(off, 'X-Forwarded-For: 203.0.113.7\r\n')).to.equal('127.0.0.1');
    await off.stop();
  });

  it('a bad --forwarded-allow-ips value is refused at start, naming the option', async () => {
    const { runPounce } = await import('../helpers/pounce.js');
    const result = await runPounce(['test/fixtures/node-hello.js', '--forwarded-allow-ips', '10.0.0.0/99']);
    expect(result.code).to.equal(2);
    expect(result.stderr + result.stdout).to.match(/--forwarded-allow-ips.*IP addresses or CIDRs/);
  });
});
