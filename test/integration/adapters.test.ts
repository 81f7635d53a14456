import { expect } from 'chai';
import { request } from 'node:http';
import { startPounce, sleep, type PounceProcess } from '../helpers/pounce.js';

describe('fetch adapter (plain fetch object)', () => {
  let pounce: PounceProcess;
  before(async () => {
    pounce = await startPounce({ app: 'fetch-object.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
  });
  after(async () => {
    expect((await pounce.stop()).code).to.equal(0);
    expect(pounce.nonJson).to.deep.equal([]);
  });

  it('sends a one-chunk body with a Content-Length, not chunked', async () => {
    const res = await fetch(`${pounce.url}/plain`);
    expect(await res.text()).to.equal('fetch hello GET /plain\n');
    expect(res.headers.get('content-length')).to.equal('23');
    expect(res.headers.get('transfer-encoding')).to.equal(null);
  });

  it('streams a body as it is produced', async () => {
    const res = await fetch(`${pounce.url}/stream`);
    expect(res.headers.get('transfer-encoding')).to.equal('chunked');
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(Date.now());
      text += new TextDecoder().decode(value);
    }
    expect(text).to.equal('part 1\npart 2\npart 3\npart 4\npart 5\n');
    // Chunks arrive spread out over time, not all at the end.
    expect(arrivals.length).to.be.at.least(3);
    expect(arrivals.at(-1)! - arrivals[0]!).to.be.at.least(100);
  });

  it('streams a request body in', async () => {
    const body = 'x'.repeat(200_000);
    const res = await fetch(`${pounce.url}/echo`, { method: 'POST', body });
    expect(res.headers.get('x-length')).to.equal('200000');
    expect((await res.text()).length).to.equal(200_000);
  });

  it('keeps several Set-Cookie headers apart', async () => {
    const res = await fetch(`${pounce.url}/cookies`);
    expect(res.headers.getSetCookie()).to.deep.equal(['a=1', 'b=2']);
  });

  it('fires the request signal when the client goes away, and logs the disconnect', async () => {
    const req = request(`${pounce.url}/abort?id=42`);
    req.on('error', () => {});
    req.end();
    await pounce.waitForEvent('RequestStarted', (l) => l.path === '/abort');
    await sleep(100);
    req.destroy();
    // stderr is not a log line: poll it.
    for (let i = 0; i < 50 && !pounce.stderr.includes('ABORTED 42'); i++) await sleep(50);
    expect(pounce.stderr).to.include('ABORTED 42');
    const gone = await pounce.waitForEvent('ClientDisconnected', (l) => l.path === '/abort');
    expect(gone.during_streaming).to.equal(false);
  });

  it('a thrown error becomes a bare 500 and one error line with the stack', async () => {
    const res = await fetch(`${pounce.url}/throw`);
    expect(res.status).to.equal(500);
    const text = await res.text();
    expect(text).to.equal('Internal Server Error\n');
    expect(text).not.to.include('fetch boom');
    const line = await pounce.waitFor((l) => l.logger === 'pounce.app' && l.level === 'error');
    expect(line.err.message).to.equal('fetch boom');
    expect(line.err.stack).to.include('fetch-object.js');
    expect(line.connection_id).to.be.a('number');
    const completed = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === '/throw');
    expect(completed.status).to.equal(500);
  });

  it('a handler that returns something other than a Response is a 500 with a clear error', async () => {
    const res = await fetch(`${pounce.url}/not-response`);
    expect(res.status).to.equal(500);
    const line = await pounce.waitFor((l) => l.level === 'error' && /not a Response/.test(l.err?.message ?? ''));
    expect(line.err.message).to.equal('fetch handler returned string, not a Response');
  });
});

describe('node adapter', () => {
  it('a synchronous throw and a rejected promise both become a 500 with an error line', async () => {
    const pounce = await startPounce({ app: 'node-hello.js' });
    for (const path of ['/throw', '/reject']) {
      const res = await fetch(`${pounce.url}${path}`);
      expect(res.status, path).to.equal(500);
      expect(await res.text()).to.equal('Internal Server Error\n');
    }
    await pounce.waitFor(() => pounce.lines.filter((l) => l.logger === 'pounce.app' && l.level === 'error').length === 2);
    const errors = pounce.lines.filter((l) => l.logger === 'pounce.app' && l.level === 'error');
    expect(errors.map((l) => l.err.message)).to.deep.equal(['boom from app', 'async boom']);
    // The app does not import pounce, so no AsyncLocalStorage runs (no async hooks)...
    expect(await (await fetch(`${pounce.url}/async-hooks`)).text()).to.equal('off');
    // ...yet an error reported from a callback still carries its request's connection id.
    const later = await fetch(`${pounce.url}/reject-later`);
    expect(later.status).to.equal(500);
    const laterLine = await pounce.waitFor((l) => l.logger === 'pounce.app' && l.err?.message === 'later boom');
    const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === '/reject-later');
    expect(laterLine.connection_id).to.be.a('number').and.equal(access.connection_id);
    for (const line of errors) expect(line.connection_id, line.err.message).to.be.a('number');
    // And the server keeps serving.
    expect((await fetch(pounce.url)).status).to.equal(200);
    await pounce.stop();
  });
});
