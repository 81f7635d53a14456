import { expect } from 'chai';
import { request } from 'node:http';
import { startPounce } from '../helpers/pounce.js';

/** GET `path` over a fresh connection: the body bytes as received (chunked framing removed). */
function receive(port: number, path: string): Promise<{ bytes: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ bytes, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bytes_sent: body bytes, whatever the characters and the encoding', () => {
  const cases: Array<[string, number]> = [
    ['/utf8', Buffer.byteLength('héllo ✓ 😀')],
    ['/latin1-header', 5],
    ['/latin1-header-utf8-body', Buffer.byteLength('\u00fc\u2713')],
    ['/latin1-encoding', 4],
    ['/hex', 5],
    ['/base64-sized', 5],
    ['/declared-then-parts', 6],
    ['/declared-utf8', Buffer.byteLength('h\u00e9llo')],
    ['/chunked-utf8', Buffer.byteLength('é✓✓x')],
    ['/chunked-head-only', Buffer.byteLength('\u00fc')],
  ];

  it('equals what the client received, in the access line and ResponseCompleted', async () => {
    const pounce = await startPounce({ app: 'bytes-app.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    for (const [path, expected] of cases) {
      const got = await receive(pounce.port, path);
      expect(got.bytes, `${path} received`).to.equal(expected);
      const completed = await pounce.waitForEvent('ResponseCompleted', (l) => l.path === path);
      expect(completed.bytes_sent, `${path} ResponseCompleted`).to.equal(expected);
      const access = await pounce.waitFor((l) => l.logger === 'pounce.access' && l.path === path);
      expect(access.bytes_sent, `${path} access`).to.equal(expected);
    }
    // The latin1 header value went out (node encodes it as UTF-8 when it glues the head to a string body).
    expect((await receive(pounce.port, '/latin1-header')).headers['x-name']).to.be.a('string');
    await pounce.stop();
  });
});
