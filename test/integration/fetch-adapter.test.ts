import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { resolve } from 'node:path';
import { FIXTURES, ROOT, rawExchange, sleep, startPounce, type LogLine, type PounceProcess } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

const MB = 1024 * 1024;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a fresh connection (no agent); the body is counted here, byte by byte. */
function send(url: string, options: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** How many ResponseCompleted lines there are so far for this path and method. */
function mark(pounce: PounceProcess, path: string, method = 'GET'): number {
  return pounce.events('ResponseCompleted').filter((l) => l.path === path && l.method === method).length;
}

/** The first ResponseCompleted for this path and method after the `since` ones (see mark()). */
function completedFor(pounce: PounceProcess, path: string, method: string, since: number): Promise<LogLine> {
  return pounce
    .waitFor(() => mark(pounce, path, method) > since, 10_000, `ResponseCompleted ${method} ${path}`)
    .then(() => pounce.events('ResponseCompleted').filter((l) => l.path === path && l.method === method)[since]!);
}

async function state(pounce: PounceProcess): Promise<any> {
  return JSON.parse((await send(`${pounce.url}/state`)).body.toString());
}

describe('fetch adapter: bodies, streams, limits and the contract (real sockets, bytes counted)', function () {
  let pounce: PounceProcess;

  before(async () => {
    pounce = await startPounce({
      app: 'fetch-bodies.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--max-body-size', String(6 * MB)],
    });
  });

  after(async () => {
    expect((await pounce.stop()).code).to.equal(0);
    expect(pounce.nonJson, 'every stdout line is JSON').to.deep.equal([]);
    expectValidLifecycleLines(pounce.lines);
  });

  describe('each kind of Response body goes out right, GET and HEAD', () => {
    const cases: Array<{ path: string; status: number; body: Buffer; type?: string; length: 'exact' | 'chunked' | 'none'; extra?: Record<string, string> }> = [
      { path: '/body/string', status: 201, body: Buffer.from('body from a string: héllo\n'), type: 'text/plain; charset=utf-8', length: 'exact', extra: { 'x-kind': 'string' } },
      { path: '/body/bytes', status: 200, body: Buffer.from('body from a Uint8Array\n'), type: 'application/octet-stream', length: 'exact' },
      { path: '/body/blob', status: 200, body: Buffer.from('body from a Blob\n'), type: 'text/x-blob', length: 'exact' },
      { path: '/body/stream', status: 200, body: Buffer.from('body from a ReadableStream\n'), type: 'text/plain; charset=utf-8', length: 'chunked' },
      { path: '/body/null', status: 200, body: Buffer.alloc(0), length: 'exact', extra: { 'x-kind': 'null' } },
      { path: '/body/null-204', status: 204, body: Buffer.alloc(0), length: 'none' },
    ];
    for (const c of cases) {
      it(`${c.path}: status ${c.status}, ${c.length === 'exact' ? 'Content-Length' : c.length === 'chunked' ? 'chunked' : 'no length'}, exact bytes_sent; HEAD has the head and no body`, async () => {
        const since = mark(pounce, c.path);
        const get = await send(`${pounce.url}${c.path}`);
        expect(get.status, get.body.toString()).to.equal(c.status);
        expect(get.body.equals(c.body), `body ${JSON.stringify(get.body.toString())}`).to.equal(true);
        if (c.type !== undefined) expect(get.headers['content-type']?.toLowerCase()).to.equal(c.type.toLowerCase());
        for (const [k, v] of Object.entries(c.extra ?? {})) expect(get.headers[k]).to.equal(v);
        if (c.length === 'exact') {
          expect(get.headers['content-length']).to.equal(String(c.body.length));
          expect(get.headers['transfer-encoding']).to.equal(undefined);
        } else if (c.length === 'chunked') {
          expect(get.headers['transfer-encoding']).to.equal('chunked');
          expect(get.headers['content-length']).to.equal(undefined);
        } else {
          expect(get.headers['content-length']).to.equal(undefined);
          expect(get.headers['transfer-encoding']).to.equal(undefined);
        }
        const completed = await completedFor(pounce, c.path, 'GET', since);
        expect(completed.status).to.equal(c.status);
        expect(completed.bytes_sent).to.equal(get.body.length);

        // HEAD over a raw socket: the head says what GET would send, and not one body byte follows.
        const headSince = mark(pounce, c.path, 'HEAD');
        const { response } = await rawExchange(pounce.port, `HEAD ${c.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        const [head, rest] = response.split('\r\n\r\n');
        expect(head).to.match(new RegExp(`^HTTP/1\\.1 ${c.status} `));
        expect(rest, 'no body after a HEAD response').to.equal('');
        // (A null body answers HEAD with no length at all: for HEAD it may stand for a GET body of unknown size.)
        if (c.length === 'exact' && c.body.length > 0) expect(head).to.match(new RegExp(`\r\ncontent-length: ${c.body.length}\r?`, 'i'));
        expect(head).not.to.match(/\r\ntransfer-encoding/i);
        const headCompleted = await completedFor(pounce, c.path, 'HEAD', headSince);
        expect(headCompleted.status).to.equal(c.status);
        expect(headCompleted.bytes_sent).to.equal(0);
      });
    }
  });

  it('a 5 MB streamed download: every byte arrives, chunked, and bytes_sent is exact', async () => {
    const since = mark(pounce, '/download');
    const res = await send(`${pounce.url}/download?mb=5&id=dl5`);
    expect(res.status).to.equal(200);
    expect(res.headers['transfer-encoding']).to.equal('chunked');
    expect(res.body.length).to.equal(5 * MB);
    expect(res.body[251]).to.equal(0); // the pattern, i % 251, survived
    const completed = await completedFor(pounce, '/download', 'GET', since);
    expect(completed.bytes_sent).to.equal(5 * MB);
    expect(completed.status).to.equal(200);
  });

  it('a streamed download waits for a slow reader (backpressure out): the app is pulled only as the socket drains', async () => {
    // 64 MB on offer; the client reads a little, then stops reading for a while.
    const since = mark(pounce, '/download');
    const req = request(`${pounce.url}/download?mb=64&id=slow`, { agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    await once(res, 'readable');
    res.pause();
    await sleep(700);
    const producedWhilePaused = (await state(pounce)).produced.slow as number;
    // Socket buffers on both sides hold a few MB at most; without backpressure all 64 MB would be made.
    expect(producedWhilePaused).to.be.below(24 * MB);
    let received = 0;
    res.on('data', (c: Buffer) => (received += c.length));
    res.resume();
    await once(res, 'end');
    expect(received).to.equal(64 * MB);
    const completed = await completedFor(pounce, '/download', 'GET', since);
    expect(completed.bytes_sent).to.equal(64 * MB);
  });

  it('a 5 MB streamed upload: the app reads every byte from request.body, and the response bytes_sent is exact', async () => {
    const since = mark(pounce, '/upload', 'POST');
    const payload = Buffer.alloc(5 * MB);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 256;
    const req = request(`${pounce.url}/upload`, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream' } });
    // Streamed: chunked, in pieces, waiting for 'drain' like any well-behaved sender.
    const done = new Promise<Reply>((resolvePromise, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
    });
    for (let offset = 0; offset < payload.length; offset += 100_000) {
      if (!req.write(payload.subarray(offset, offset + 100_000))) await once(req, 'drain');
    }
    req.end();
    const res = await done;
    expect(res.status).to.equal(200);
    const answer = JSON.parse(res.body.toString());
    expect(answer.bytes).to.equal(5 * MB);
    expect(answer.sha256).to.equal(createHash('sha256').update(payload).digest('hex'));
    expect(answer.chunks).to.be.greaterThan(1);
    const completed = await completedFor(pounce, '/upload', 'POST', since);
    expect(completed.bytes_sent).to.equal(res.body.length);
    expect(Number(res.headers['content-length'])).to.equal(res.body.length);
  });

  it('an upload the app stops reading is held back at the socket (backpressure in)', async () => {
    const payload = Buffer.alloc(5 * MB, 1);
    const req = request(`${pounce.url}/upload?pause=600`, { method: 'POST', agent: false, headers: { 'content-length': payload.length } });
    const done = new Promise<Reply>((resolvePromise, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
    });
    req.end(payload);
    const answer = JSON.parse((await done).body.toString());
    expect(answer.bytes).to.equal(5 * MB);
    // While the app did not read, the server did not read the socket dry either.
    expect(answer.bytesReadAfterPause).to.be.below(4 * MB);
  });

  it('request.signal fires when the client goes away mid-SSE, and the stream is cancelled', async () => {
    const req = request(`${pounce.url}/sse?id=s1`, { agent: false });
    req.on('error', () => {});
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    expect(res.headers['content-type']).to.equal('text/event-stream');
    let received = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (received += c));
    res.on('error', () => {});
    while (!received.includes('data: event 3')) await sleep(10);
    req.destroy();
    for (let i = 0; i < 100 && !pounce.stderr.includes('SSE ABORTED s1'); i++) await sleep(20);
    expect(pounce.stderr).to.include('SSE ABORTED s1');
    const sse = (await state(pounce)).sse.s1;
    expect(sse).to.include({ aborted: true, cancelled: true });
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/sse');
    expect(gone.during_streaming).to.equal(true);
    expect(gone.bytes_sent).to.be.at.least(Buffer.byteLength('data: event 1\n\ndata: event 2\n\ndata: event 3\n\n'));
    // It stays cancelled: no more events are made.
    const events = sse.events as number;
    await sleep(150);
    expect((await state(pounce)).sse.s1.events).to.equal(events);
  });

  it('env is { incoming, outgoing } (the node objects), ctx.waitUntil logs a rejection with the request ids', async () => {
    const since = mark(pounce, '/wait-until');
    const env = JSON.parse((await send(`${pounce.url}/env`)).body.toString());
    expect(env).to.include({ incoming: true, outgoing: true, url: '/env', waitUntil: 'function' });
    expect(env.remotePort).to.be.a('number');
    const res = await send(`${pounce.url}/wait-until`);
    expect(res.body.toString()).to.equal('queued\n');
    const line = await pounce.waitFor((l) => l.logger === 'pounce.app' && l.msg === 'waitUntil promise rejected');
    expect(line.err.message).to.equal('background boom');
    const completed = await completedFor(pounce, '/wait-until', 'GET', since);
    expect(line.connection_id).to.equal(completed.connection_id);
  });

  it('currentRequest() holds across awaits, timers and body reads in a fetch app', async () => {
    const since = mark(pounce, '/context', 'POST');
    const res = await send(`${pounce.url}/context`, { method: 'POST', body: 'x'.repeat(100_000) });
    const ids = JSON.parse(res.body.toString());
    const completed = await completedFor(pounce, '/context', 'POST', since);
    expect(ids).to.deep.equal({ before: completed.connection_id, afterTimer: completed.connection_id, afterBody: completed.connection_id });
  });

  it('a response body stream that errors: the connection is cut, one error line with the stack and the request ids, nothing on stderr', async () => {
    const stderrBefore = pounce.stderr.length;
    const req = request(`${pounce.url}/stream-error`, { agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    let received = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (received += c));
    const [outcome] = await Promise.race([once(res, 'end').then(() => ['end']), once(res, 'aborted').then(() => ['aborted']), once(res, 'error').then(() => ['error'])]);
    expect(outcome, 'a truncated body must not look complete').not.to.equal('end');
    expect(received).to.equal('part 1\npart 2\n');
    const line = await pounce.waitFor((l) => l.logger === 'pounce.app' && l.level === 'error' && l.err?.message === 'stream boom');
    expect(line.err.stack).to.include('fetch-bodies.js');
    expect(line.connection_id).to.be.a('number');
    await sleep(50);
    expect(pounce.stderr.slice(stderrBefore)).to.equal('');
    expect(pounce.lines.filter((l) => l.err?.message === 'stream boom')).to.have.length(1);
    // And the record says the app ended it, not that it completed.
    const aborted = await pounce.waitForEvent('RequestAborted', (l) => l.path === '/stream-error');
    expect(aborted).to.include({ ended_by: 'app', cause: 'app_error' });
    expect(pounce.events('ResponseCompleted').filter((l) => l.path === '/stream-error')).to.deep.equal([]);
  });

  it('a header value node refuses is the app\'s error: a bare 500 and an error line', async () => {
    const res = await send(`${pounce.url}/bad-header`);
    expect(res.status).to.equal(500);
    expect(res.body.toString()).to.equal('Internal Server Error\n');
    await pounce.waitFor((l) => l.logger === 'pounce.app' && l.level === 'error' && /x-bad/i.test(l.err?.message ?? ''));
  });

  it('a Host that cannot make a URL is a 400, with no error line (the app was never called)', async () => {
    const errorsBefore = pounce.lines.filter((l) => l.level === 'error').length;
    const { response } = await rawExchange(pounce.port, 'GET /body/string HTTP/1.1\r\nHost: bad host\r\n\r\n');
    expect(response).to.match(/^HTTP\/1\.1 400 /);
    expect(response).not.to.include('body from a string');
    await sleep(100);
    expect(pounce.lines.filter((l) => l.level === 'error').length).to.equal(errorsBefore);
  });

  it('an HTTP/1.0 request without Host is served (the URL names the address it reached)', async () => {
    const { response } = await rawExchange(pounce.port, 'GET /body/string HTTP/1.0\r\n\r\n');
    expect(response).to.match(/^HTTP\/1\.1 201 /);
    expect(response).to.include('body from a string');
  });
});

describe('fetch adapter: body limits', () => {
  let pounce: PounceProcess;
  before(async () => {
    pounce = await startPounce({ app: 'fetch-bodies.js', args: ['--lifecycle-logging', '--log-level', 'debug', '--max-body-size', '1000'] });
  });
  after(async () => {
    expect((await pounce.stop()).code).to.equal(0);
    expect(pounce.nonJson).to.deep.equal([]);
  });

  for (const route of ['/count', '/text']) {
    it(`${route}: an over-limit body gets 413 and the app never sees more than the limit (Content-Length and chunked)`, async () => {
      const declared = await rawExchange(pounce.port, `POST ${route}?id=cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`);
      expect(declared.response).to.match(/^HTTP\/1\.1 413 /);
      const chunk = 'y'.repeat(600);
      const chunked = await rawExchange(pounce.port, [
        `POST ${route}?id=chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`,
        `258\r\n${chunk}\r\n`,
        100,
        `258\r\n${chunk}\r\n`,
        100,
        `258\r\n${chunk}\r\n`,
        '0\r\n\r\n',
      ]);
      expect(chunked.response).to.match(/^HTTP\/1\.1 413 /);
      expect(chunked.response.match(/HTTP\/1\.1 /g), 'one response only').to.have.length(1);
      await sleep(100);
      const seen = (await state(pounce)).uploads;
      // Content-Length over the limit: refused before the app is called.
      expect(seen.cl).to.equal(undefined);
      // Chunked: the app may have started reading, but never got past the limit, nor a complete body.
      if (seen.chunked) {
        expect(seen.chunked.bytes).to.be.at.most(1000);
        expect(seen.chunked.done).to.equal(false);
      }
      // Under the limit is fine.
      const small = await send(`${pounce.url}${route}?id=small`, { method: 'POST', body: 'z'.repeat(900) });
      expect(JSON.parse(small.body.toString())).to.deep.equal({ bytes: 900 });
    });
  }

  it('a response the app returns after pounce answered 413 is dropped quietly', async () => {
    const stderrBefore = pounce.stderr.length;
    const chunk = 'y'.repeat(600);
    const { response } = await rawExchange(pounce.port, [
      'POST /late-after-limit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `258\r\n${chunk}\r\n`,
      `258\r\n${chunk}\r\n`,
      `258\r\n${chunk}\r\n`,
      500,
    ]);
    expect(response).to.match(/^HTTP\/1\.1 413 /);
    expect(response).not.to.include('too late');
    await sleep(400);
    expect(pounce.stderr.slice(stderrBefore)).to.equal('');
  });
});

describe('a Hono app: served by pounce as by @hono/node-server', () => {
  let pounce: PounceProcess;
  let peer: ChildProcess;
  let peerUrl = '';
  const app = resolve(FIXTURES, 'hono-parity.js');

  before(async () => {
    pounce = await startPounce({ app: 'hono-parity.js' });
    peer = spawn(process.execPath, [resolve(FIXTURES, 'hono-node-server.js'), app], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    const [first] = (await once(peer.stdout!, 'data')) as [Buffer];
    peerUrl = `http://127.0.0.1:${JSON.parse(first.toString()).port}`;
  });
  after(async () => {
    peer.kill('SIGTERM');
    await once(peer, 'exit');
    expect((await pounce.stop()).code).to.equal(0);
  });

  const requests: Array<{ method?: string; path: string; headers?: Record<string, string>; body?: string }> = [
    { path: '/' },
    { path: '/users/42?q=search' },
    { path: '/html' },
    { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2,3],"b":"é"}' },
    { method: 'PUT', path: '/raw', body: 'abcdef' },
    { path: '/redirect' },
    { path: '/cookies' },
    { path: '/headers', headers: { 'user-agent': 'parity-test', 'x-custom': 'v1' } },
    { path: '/empty' },
    { path: '/stream' },
    { path: '/async' },
    { path: '/boom' },
    { path: '/nowhere' },
    { method: 'HEAD', path: '/' },
    { method: 'HEAD', path: '/users/7' },
    { method: 'DELETE', path: '/users/7' },
  ];
  const compared = ['content-type', 'location', 'set-cookie', 'x-reply', 'cache-control', 'x-content-type-options'];
  const framing = ['content-length', 'transfer-encoding'];

  for (const r of requests) {
    it(`${r.method ?? 'GET'} ${r.path}: same status, body and headers`, async () => {
      const options = { method: r.method, headers: r.headers, body: r.body };
      const [ours, theirs] = await Promise.all([send(`${pounce.url}${r.path}`, options), send(`${peerUrl}${r.path}`, options)]);
      expect(ours.status).to.equal(theirs.status);
      expect(ours.body.toString('latin1')).to.equal(theirs.body.toString('latin1'));
      for (const name of compared) expect(ours.headers[name], name).to.deep.equal(theirs.headers[name]);
      // Framing: the same, except that pounce sends a bodiless answer (a redirect) with
      // Content-Length: 0 where @hono/node-server sends an empty chunked body.
      if (theirs.body.length > 0 || r.method === 'HEAD') {
        for (const name of framing) expect(ours.headers[name], name).to.deep.equal(theirs.headers[name]);
      } else if (ours.status !== 204) {
        expect(ours.headers['content-length']).to.equal('0');
      }
    });
  }
});
