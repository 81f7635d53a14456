import { expect } from 'chai';
import { createConnection, type AddressInfo } from 'node:net';
import { createServer, type IncomingMessage } from 'node:http';
import { rawHeader } from '../../src/server/raw-headers.js';

/** The request node:http parses from `head` (sent as is, over a real socket). */
async function parsed(head: string): Promise<IncomingMessage> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const got = new Promise<IncomingMessage>((resolve) =>
      server.once('request', (req: IncomingMessage, res) => {
        res.end();
        resolve(req);
      }),
    );
    const socket = createConnection(port, '127.0.0.1');
    socket.end(head);
    socket.resume();
    return await got;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('rawHeader: one request header from rawHeaders, by its lower-case name', () => {
  it('matches names in any case, takes the first occurrence, and tells apart names of the same length', async () => {
    const req = await parsed(
      'GET / HTTP/1.1\r\nHOST: a.example\r\nUser-agent: first\r\nuser-AGENT: second\r\nX-Useragent: no\r\nX-Custom-Z: z\r\n\r\n',
    );
    expect(rawHeader(req, 'host')).to.equal('a.example');
    expect(rawHeader(req, 'user-agent')).to.equal('first');
    // Same length as x-custom-z, one letter apart: not a match.
    expect(rawHeader(req, 'x-custom-y')).to.equal(undefined);
    expect(rawHeader(req, 'x-custom-z')).to.equal('z');
    expect(rawHeader(req, 'content-length')).to.equal(undefined);
    // What node's own lower-cased view says, for every header sent (node keeps a repeated User-Agent's first).
    for (const name of Object.keys(req.headers)) expect(rawHeader(req, name), name).to.equal(req.headers[name]);
  });
});
