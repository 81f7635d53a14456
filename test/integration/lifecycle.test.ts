import { expect } from 'chai';
import { request, type Agent } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { startPounce, rawExchange, sleep, type PounceProcess, type LogLine } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

/** GET over a given agent (keep-alive or not); resolves with status and body. */
function get(url: string, agent?: Agent, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const order = (lines: LogLine[]) => lines.map((l) => l.event);

describe('lifecycle events (real sockets, real pounce output)', function () {
  let pounce: PounceProcess;

  before(async () => {
    pounce = await startPounce({
      app: 'node-hello.js',
      args: [
        '--lifecycle-logging',
        '--log-level',
        'debug',
        '--log-slow-requests-threshold',
        '0.4',
        '--keep-alive-timeout',
        '1',
        '--header-timeout',
        '1',
        '--max-body-size',
        '1000',
        '--health-check-path',
        '/health',
      ],
    });
  });

  after(async () => {
    const result = await pounce.stop();
    expect(result.code).to.equal(0);
    expect(pounce.nonJson, 'every stdout line is JSON').to.deep.equal([]);
    expectValidLifecycleLines(pounce.lines);
  });

  it('a keep-alive connection: Opened, then Started → Completed per request, then Completed with the totals', async () => {
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('latin1').on('data', (c: string) => (received += c));
    socket.write('GET /one?token=secret HTTP/1.1\r\nHost: x\r\n\r\n');
    await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/one');
    socket.write('GET /two HTTP/1.1\r\nHost: x\r\n\r\n');
    await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/two');
    await sleep(20);
    socket.end();
    expect(received.match(/HTTP\/1\.1 200 OK/g)).to.have.length(2);
    const done = await pounce.waitForEvent('ConnectionCompleted', (l) => l.requests_served === 2);
    const events = pounce.connectionEvents(done.connection_id);
    expect(order(events)).to.deep.equal([
      'ConnectionOpened',
      'RequestStarted',
      'ResponseCompleted',
      'RequestStarted',
      'ResponseCompleted',
      'ConnectionCompleted',
    ]);
    const [opened, started, completed] = events as [LogLine, LogLine, LogLine];
    expect(opened).to.include({ level: 'debug', logger: 'pounce.lifecycle', protocol: 'h1', client_addr: '127.0.0.1', server_addr: '127.0.0.1', server_port: pounce.port, worker_id: 1 });
    expect(opened.client_port).to.be.a('number').greaterThan(0);
    expect(started).to.include({ method: 'GET', path: '/one', http_version: '1.1', level: 'debug' });
    expect(JSON.stringify(events), 'query strings never reach the log').not.to.include('secret');
    expect(completed).to.include({ status: 200, bytes_sent: 6, level: 'debug', method: 'GET', path: '/one' });
    expect(completed).not.to.have.property('slow');
    expect(completed.duration_ms).to.be.a('number').at.least(0);
    expect(done).to.include({ reason: 'complete', total_bytes_sent: 12, level: 'debug', client_addr: '127.0.0.1' });
    // Timestamps: RFC 3339 UTC with microseconds, and in order.
    for (const e of events) expect(e.timestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const times = events.map((e) => Date.parse(e.timestamp));
    expect([...times].sort((a, b) => a - b)).to.deep.equal(times);
  });

  it('HTTP/1.0 is reported as http_version 1.0', async () => {
    const { response } = await rawExchange(pounce.port, 'GET /old HTTP/1.0\r\n\r\n');
    expect(response).to.match(/^HTTP\/1\.1 200/);
    const started = await pounce.waitForEvent('RequestStarted', (l) => l.path === '/old');
    expect(started.http_version).to.equal('1.0');
  });

  it('a slow request: RequestSlow while in flight, then ResponseCompleted at info with slow: true', async () => {
    const res = await get(`${pounce.url}/slow?ms=900`);
    expect(res.status).to.equal(200);
    const completed = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/slow');
    expect(completed).to.include({ level: 'info', slow: true, status: 200 });
    expect(completed.duration_ms).to.be.at.least(400);
    const slow = pounce.events('RequestSlow').find((l) => l.connection_id === completed.connection_id)!;
    expect(slow, 'RequestSlow emitted').to.exist;
    expect(slow).to.include({ level: 'info', method: 'GET', path: '/slow', threshold_ms: 400 });
    // One sweep: reported within a quarter of the threshold after it passed.
    expect(slow.elapsed_ms).to.be.within(400, 400 + 100 + 50);
    const events = order(pounce.connectionEvents(completed.connection_id));
    expect(events.indexOf('RequestSlow')).to.be.greaterThan(events.indexOf('RequestStarted'));
    expect(events.indexOf('RequestSlow')).to.be.lessThan(events.indexOf('ResponseCompleted'));
  });

  it('a hanging request is caught by RequestSlow even though it never completes', async () => {
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    const slow = await pounce.waitForEvent('RequestSlow', (l) => l.path === '/hang', 3000);
    expect(slow.elapsed_ms).to.be.at.least(400);
    socket.destroy();
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/hang');
    expect(gone).to.include({ during_streaming: false, level: 'warn', bytes_sent: 0, client_addr: '127.0.0.1', method: 'GET' });
  });

  it('pipelined slow requests on one connection are each reported slow once', async () => {
    const head = (ms: number) => `GET /slow?ms=${ms} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const { response } = await rawExchange(pounce.port, head(700) + head(100) + head(50), { timeoutMs: 1600 });
    expect(response.match(/slow done/g)).to.have.length(3);
    const servedThree = (l: { event?: string; requests_served?: number }) => l.event === 'ConnectionCompleted' && l.requests_served === 3;
    const id = (await pounce.waitFor(servedThree)).connection_id as number;
    // All three were in flight past 400 ms (the later two wait behind the first): three reports, none twice.
    const slow = pounce.connectionEvents(id).filter((l) => l.event === 'RequestSlow');
    expect(slow).to.have.length(3);
    for (const line of slow) expect(line.elapsed_ms).to.be.within(400, 550);
  });

  it('event-stream responses are never slow', async () => {
    const res = await get(`${pounce.url}/events?ms=700`);
    expect(res.body).to.include('data: one');
    const completed = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/events');
    expect(completed.duration_ms).to.be.at.least(400);
    expect(completed).to.include({ level: 'debug' });
    expect(completed).not.to.have.property('slow');
    expect(pounce.events('RequestSlow').filter((l) => l.path === '/events')).to.deep.equal([]);
  });

  it('client disconnect while streaming: ClientDisconnected during_streaming, ConnectionCompleted client_disconnect', async () => {
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    await sleep(250);
    socket.destroy();
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/stream');
    expect(gone.during_streaming).to.equal(true);
    expect(gone.bytes_sent).to.be.greaterThan(0);
    const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === gone.connection_id);
    expect(closed.reason).to.equal('client_disconnect');
    // The client leaves ~250 ms into the stream; on a busy machine that can be past the 400 ms
    // threshold, and then a RequestSlow in flight is right. Well past it, one is required.
    const slow = pounce.connectionEvents(gone.connection_id).filter((l) => l.event === 'RequestSlow');
    for (const l of slow) expect(l.elapsed_ms).to.be.at.least(400);
    if ((gone.duration_ms as number) >= 550) expect(slow, 'in flight past the threshold').to.have.length(1);
    expect(order(pounce.connectionEvents(gone.connection_id))).to.deep.equal([
      'ConnectionOpened',
      'RequestStarted',
      ...(slow.length > 0 ? ['RequestSlow'] : []),
      'ClientDisconnected',
      'ConnectionCompleted',
    ]);
  });

  it('idle keep-alive connection closed by the server: reason timeout', async () => {
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    const started = Date.now();
    await once(socket, 'close');
    expect(Date.now() - started).to.be.within(700, 2500);
    const done = await pounce.waitForEvent('ConnectionCompleted', (l) => l.requests_served === 1 && l.reason === 'timeout');
    expect(pounce.connectionEvents(done.connection_id)[1]).to.include({ path: '/idle' });
    expect(done.level).to.equal('debug');
  });

  it('slowloris (head never finished): 408, Opened with the accept time, Completed reason timeout', async () => {
    const before = Date.now();
    const { response } = await rawExchange(pounce.port, 'GET / HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 4000 });
    const closed = Date.now();
    expect(response).to.match(/^HTTP\/1\.1 408 /);
    const done = await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'timeout' && l.requests_served === 0);
    const opened = pounce.connectionEvents(done.connection_id)[0]!;
    expect(opened.event).to.equal('ConnectionOpened');
    // The accept time, not the time the line was written (at the 408, a header timeout later). No bound on
    // how soon the server accepts: on a busy machine that is whenever it gets the CPU.
    expect(Date.parse(opened.timestamp)).to.be.within(before - 5, closed - 900);
    expect(done.duration_ms).to.be.at.least(900);
  });

  it('garbage request line: 400 with Connection: close, reason error at warn', async () => {
    const { response } = await rawExchange(pounce.port, 'HELLO THERE\r\n\r\n');
    expect(response).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(response).to.match(/\r\nConnection: close\r\n/i);
    const done = await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'error' && l.requests_served === 0);
    expect(done.level).to.equal('warn');
    expect(order(pounce.connectionEvents(done.connection_id))).to.deep.equal(['ConnectionOpened', 'ConnectionCompleted']);
  });

  it('request smuggling (Content-Length with Transfer-Encoding) is refused with 400, reason error', async () => {
    const before = pounce.events('ConnectionCompleted').filter((l) => l.reason === 'error').length;
    const { response } = await rawExchange(
      pounce.port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(response).to.match(/^HTTP\/1\.1 400 /);
    expect(response).not.to.include('hello');
    await pounce.waitFor(() => pounce.events('ConnectionCompleted').filter((l) => l.reason === 'error').length > before);
    expect(pounce.events('RequestStarted').filter((l) => l.path === '/smuggled')).to.deep.equal([]);
  });

  it('oversize headers: 431, reason error', async () => {
    const { response } = await rawExchange(pounce.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(response).to.match(/^HTTP\/1\.1 431 /);
    await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'error');
  });

  it('a body over maxBodySize: 413 (Content-Length and chunked alike), the app never sees it', async () => {
    const declared = await rawExchange(pounce.port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`);
    expect(declared.response).to.match(/^HTTP\/1\.1 413 /);
    const chunk = 'x'.repeat(600);
    const chunked = await rawExchange(pounce.port, [
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `258\r\n${chunk}\r\n`,
      50,
      `258\r\n${chunk}\r\n`,
      50,
      '0\r\n\r\n',
    ]);
    expect(chunked.response).to.match(/^HTTP\/1\.1 413 /);
    expect(chunked.response).not.to.include('received');
    await pounce.waitFor(() => pounce.events('ResponseCompleted').filter((l) => l.status === 413).length >= 2);
    expect(pounce.events('ResponseCompleted').filter((l) => l.status === 413).map((l) => l.path)).to.deep.equal(['/echo', '/echo']);
    // Under the limit is fine.
    const small = await rawExchange(pounce.port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789');
    expect(small.response).to.include('{"received":10}');
  });

  it('a connection that never sends a byte logs nothing (TCP probe)', async () => {
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.end();
    await once(socket, 'close');
    await get(`${pounce.url}/after-probe`);
    const marker = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/after-probe');
    // Connection ids tell which connections were opened since the probe (it took marker - 1). Neither
    // the order lines arrive in (an earlier test's ConnectionOpened can still be on its way: a writer
    // thread writes the lines) nor their timestamps (same millisecond, ~1 ms of clock offset) can.
    const openedSince = pounce.events('ConnectionOpened').filter((l) => l.connection_id >= marker.connection_id - 1);
    expect(openedSince.map((l) => l.connection_id)).to.deep.equal([marker.connection_id]);
    await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === marker.connection_id);
    // The probe took an id (the next one), but nothing was logged for it.
    expect(pounce.connectionEvents(marker.connection_id - 1)).to.deep.equal([]);
  });

  it('health checks leave no lifecycle line and no connection events', async () => {
    // A fence: every connection of this test gets a higher id (ids, not timestamps or arrival order: see the TCP probe test).
    await rawExchange(pounce.port, 'GET /fence HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const fence = (await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/fence')).connection_id as number;
    for (let i = 0; i < 3; i++) {
      const res = await get(`${pounce.url}/health`);
      expect(res.status).to.equal(200);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(JSON.parse(res.body)).to.include({ status: 'ok', worker_id: 1 });
    }
    await get(`${pounce.url}/after-health`);
    await pounce.waitForEvent('ConnectionCompleted', (l) => pounce.connectionEvents(l.connection_id).some((e) => e.path === '/after-health'));
    expect(pounce.lines.filter((l) => l.path === '/health')).to.deep.equal([]);
    const since = pounce.lines.filter((l) => (l.connection_id as number) > fence);
    const connections = new Set(since.map((l) => l.connection_id));
    expect(connections.size, `only the /after-health connection appears: ${JSON.stringify(since.map((l) => [l.event ?? l.logger, l.connection_id, l.path]))}`).to.equal(1);
  });
});

describe('close reasons at the edges', function () {
  it('backpressure: over maxConnections the client gets 503 with Retry-After, reason backpressure', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--max-connections', '1'] });
    const holder = connect(pounce.port, '127.0.0.1');
    await once(holder, 'connect');
    holder.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    await pounce.waitForEvent('RequestStarted', (l) => l.path === '/hang');
    // Answered at once, before the client sends anything: not held until a header timeout.
    const refusedAt = Date.now();
    const quiet = connect(pounce.port, '127.0.0.1');
    let response = '';
    quiet.setEncoding('latin1');
    quiet.on('data', (c: string) => (response += c));
    await once(quiet, 'end');
    quiet.destroy();
    // Far below the header timeout (10 s by default), with room for a busy machine's scheduling.
    expect(Date.now() - refusedAt, 'answered without waiting for a request').to.be.below(5000);
    expect(response).to.match(/^HTTP\/1\.1 503 /);
    expect(response).to.match(/\r\nretry-after: 1\r\n/i);
    expect(response).to.match(/\r\nconnection: close\r\n/i);
    const refused = await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'backpressure');
    expect(refused.level).to.equal('warn');
    expect(order(pounce.connectionEvents(refused.connection_id))).to.deep.equal(['ConnectionOpened', 'ConnectionCompleted']);
    holder.destroy();
    // The slot frees up again.
    await pounce.waitForEvent('ConnectionCompleted', (l) => l.reason === 'client_disconnect');
    const again = await rawExchange(pounce.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(again.response).to.match(/^HTTP\/1\.1 200 /);
    expect((await pounce.stop()).code).to.equal(0);
    expectValidLifecycleLines(pounce.lines);
  });

  it('maxRequestsPerConnection closes cleanly after N requests: reason complete', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--max-requests-per-connection', '2'] });
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('latin1').on('data', (c: string) => (received += c));
    socket.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    socket.write('GET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'close');
    expect(received.match(/HTTP\/1\.1 200/g)).to.have.length(2);
    expect(received).to.match(/connection: close/i);
    const done = await pounce.waitForEvent('ConnectionCompleted');
    expect(done).to.include({ requests_served: 2, reason: 'complete' });
    await pounce.stop();
  });

  it('shutdown: an idle keep-alive connection is closed with reason shutdown', async () => {
    const pounce = await startPounce({ app: 'node-hello.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--keep-alive-timeout', '30'] });
    const socket = connect(pounce.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /before-shutdown HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(socket, 'data');
    const result = await pounce.stop('SIGTERM');
    expect(result.code).to.equal(0);
    const done = pounce.events('ConnectionCompleted')[0]!;
    expect(done).to.include({ reason: 'shutdown', requests_served: 1 });
    expect(pounce.lines.at(-1)).to.include({ event: 'ServerStopped' });
  });
});
