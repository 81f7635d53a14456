import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { startPounce, sleep, FIXTURES, type PounceProcess, type LogLine } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

/**
 * Real Express 5, Koa 3, Fastify 5 and Hono 4 apps, served by pounce and by
 * their own servers: the record (bytes_sent, endings, limits, drain) must be
 * exact whatever the framework does to the req/res it is given.
 */
const FRAMEWORKS = ['express', 'koa', 'fastify', 'hono'] as const;
const STATIC_BYTES = 5 * 1024 * 1024;
const BIG_BYTES = 8 * 1024 * 1024;
const MAX_BODY = 1024 * 1024;

interface Fetched {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha: string;
  body: Buffer;
}

function fetchRaw(port: number, path: string, options: { method?: string; body?: Buffer; chunked?: boolean } = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.body) headers['content-type'] = 'application/octet-stream';
    if (options.body && options.chunked) headers['transfer-encoding'] = 'chunked';
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, bytes: body.length, sha: createHash('sha256').update(body).digest('hex'), body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body && options.chunked) {
      // Several chunks, so the limit is crossed mid-stream, not at the first one.
      const step = 64 * 1024;
      for (let i = 0; i < options.body.length; i += step) req.write(options.body.subarray(i, i + step));
      req.end();
    } else {
      req.end(options.body);
    }
  });
}

/**
 * Read a response until `enough` says so, stop reading for `stallMs` (the
 * server's buffers fill up, as with a client that gave up), then reset the
 * connection (RST). Resolves with the bytes read.
 */
async function readThenReset(port: number, path: string, enough: (got: number, text: string) => boolean, stallMs = 0): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  let got = 0;
  let text = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (c: Buffer) => {
      got += c.length;
      if (text.length < 4096) text += c.toString('latin1');
      if (enough(got, text)) {
        socket.pause();
        resolve();
      }
    });
  });
  if (stallMs > 0) await sleep(stallMs);
  socket.resetAndDestroy();
  return got;
}

const byPath = (p: PounceProcess, event: string, path: string) => p.events(event).filter((l) => l.path === path);

for (const framework of FRAMEWORKS) {
  describe(`${framework} served by pounce: the record is exact`, function () {
    this.timeout(60_000);
    let pounce: PounceProcess;
    let native: Server;
    let nativePort: number;

    before(async () => {
      pounce = await startPounce({
        app: `frameworks/${framework}.js`,
        args: ['--lifecycle-logging', '--log-level', 'debug', '--max-body-size', String(MAX_BODY), '--log-slow-requests-threshold', '30'],
      });
      const mod = (await import(`${FIXTURES}/frameworks/${framework}.js`)) as { listenNative(port: number): Promise<Server> };
      native = await mod.listenNative(0);
      nativePort = (native.address() as AddressInfo).port;
    });

    after(async () => {
      native?.close();
      native?.closeAllConnections?.();
      if (pounce) {
        await pounce.stop();
        expect(pounce.nonJson, 'every stdout line is JSON').to.deep.equal([]);
        expectValidLifecycleLines(pounce.lines);
      }
    });

    it('a 5 MiB static download: same bytes as its own server, bytes_sent = bytes received', async () => {
      const got = await fetchRaw(pounce.port, '/static/file.bin');
      const ref = await fetchRaw(nativePort, '/static/file.bin');
      expect(got.status).to.equal(200);
      expect(got.bytes).to.equal(STATIC_BYTES);
      expect(got.sha).to.equal(ref.sha);
      const done = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/static/file.bin');
      expect(done.bytes_sent).to.equal(got.bytes);
      const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === '/static/file.bin');
      expect(access.bytes_sent).to.equal(got.bytes);
    });

    it('a streamed response: bytes_sent = bytes received, as its own server sends them', async () => {
      const got = await fetchRaw(pounce.port, '/stream');
      const ref = await fetchRaw(nativePort, '/stream');
      expect(got.status).to.equal(200);
      expect(got.sha).to.equal(ref.sha);
      expect(got.bytes).to.be.greaterThan(10_000);
      const done = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/stream');
      expect(done.bytes_sent).to.equal(got.bytes);
      const json = await fetchRaw(pounce.port, '/json');
      expect(JSON.parse(json.body.toString())).to.deep.equal(JSON.parse((await fetchRaw(nativePort, '/json')).body.toString()));
      const conn = await pounce.waitForEvent('ConnectionCompleted', (l) => pounce.connectionEvents(l.connection_id).some((e) => e.path === '/json'));
      expect(conn.total_bytes_sent).to.equal(json.bytes);
    });

    it('a chunked upload over --max-body-size gets 413 (the app never sees it whole); under it passes', async () => {
      const small = await fetchRaw(pounce.port, '/upload', { method: 'POST', body: Buffer.alloc(200_000, 1), chunked: true });
      expect(small.status).to.equal(200);
      expect(JSON.parse(small.body.toString())).to.deep.equal({ received: 200_000 });
      const big = await fetchRaw(pounce.port, '/upload', { method: 'POST', body: Buffer.alloc(2 * MAX_BODY, 1), chunked: true }).catch(
        (err: Error) => ({ status: 0, error: err.message }) as unknown as Fetched,
      );
      expect(big.status, 'over the limit').to.equal(413);
      const done = await pounce.waitFor((l) => l.path === '/upload' && (l.event === 'ResponseCompleted' || l.event === 'RequestAborted') && l.status === 413);
      const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === done.connection_id);
      expect(closed.reason).to.equal('error');
    });

    it('a reset during a large one-piece body is ClientDisconnected, with the bytes that left', async () => {
      const read = await readThenReset(pounce.port, '/big', (got) => got >= 128 * 1024, 300);
      expect(read).to.be.below(BIG_BYTES);
      const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/big');
      expect(gone.during_streaming).to.equal(true);
      expect(gone.bytes_sent).to.be.below(BIG_BYTES);
      const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === gone.connection_id);
      expect(closed.reason).to.equal('client_disconnect');
      expect(closed.total_bytes_sent).to.equal(gone.bytes_sent);
      expect(byPath(pounce, 'ResponseCompleted', '/big'), 'never logged as a success').to.deep.equal([]);
      const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === '/big');
      expect(access).to.include({ complete: false, ended_by: 'client' });
    });

    it('an SSE stream the client aborts is ClientDisconnected while streaming, never slow', async () => {
      const read = await readThenReset(pounce.port, '/sse', (_, text) => text.includes('data: tick'));
      expect(read).to.be.greaterThan(0);
      const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/sse');
      expect(gone.during_streaming).to.equal(true);
      expect(gone.bytes_sent).to.be.greaterThan(0);
    });

    it("an app stream that fails mid-body is the app's doing: RequestAborted, reason error", async () => {
      await fetchRaw(pounce.port, '/fail-mid-body').catch(() => undefined);
      const aborted = await pounce.waitForEvent('RequestAborted', (l) => l.path === '/fail-mid-body');
      expect(aborted).to.include({ level: 'warn', ended_by: 'app', cause: 'app_error', during_streaming: true });
      expect(byPath(pounce, 'ClientDisconnected', '/fail-mid-body')).to.deep.equal([]);
      const closed = await pounce.waitForEvent('ConnectionCompleted', (l) => l.connection_id === aborted.connection_id);
      expect(closed.reason).to.equal('error');
    });
  });
}

for (const framework of FRAMEWORKS) {
  it(`${framework}: on SIGTERM, a response in flight goes out with Connection: close`, async function () {
    this.timeout(30_000);
    const pounce = await startPounce({ app: `frameworks/${framework}.js`, args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const inFlight = new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: pounce.port, path: '/slow?ms=800', headers: { connection: 'keep-alive' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    await pounce.waitForEvent('RequestStarted', (l) => l.path === '/slow');
    pounce.proc.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).to.equal(200);
    expect(res.body).to.match(/slow done/);
    expect(res.headers.connection).to.equal('close');
    const { code } = await pounce.exit;
    expect(code).to.equal(0);
    const done = pounce.events('ResponseCompleted').find((l) => l.path === '/slow');
    expect(done?.bytes_sent).to.equal(Buffer.byteLength(res.body));
    await sleep(0);
  });
}

export type { LogLine };
