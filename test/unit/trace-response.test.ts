import { expect } from 'chai';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTraceResponse } from '../../src/observability/tracing/request-span.js';

const VALUE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** Serve one request with `handle`, return the raw response head the client got. */
async function headOf(handle: (res: ServerResponse) => void): Promise<{ head: Record<string, string | string[] | undefined>; raw: string[] }> {
  const server = createServer((_req, res) => handle(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve, reject) => {
      request({ port, host: '127.0.0.1', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ head: res.headers, raw: res.rawHeaders }));
      })
        .on('error', reject)
        .end();
    });
  } finally {
    server.close();
  }
}

describe('tracing: the traceresponse header, set without node’s per-call validation', function () {
  it('is what setHeader would have made: the first header, after others, seen by getHeader/getHeaderNames/hasHeader, on the wire once', async () => {
    let seen: unknown[] = [];
    const first = await headOf((res) => {
      setTraceResponse(res, VALUE);
      seen = [res.getHeader('traceresponse'), res.hasHeader('traceresponse'), res.getHeaderNames(), res.getHeaders().traceresponse];
      res.setHeader('content-type', 'text/plain');
      res.end('x');
    });
    expect(seen).to.deep.equal([VALUE, true, ['traceresponse'], VALUE]);
    expect(first.head.traceresponse).to.equal(VALUE);
    expect(first.raw.filter((h) => h.toLowerCase() === 'traceresponse')).to.have.length(1);

    const after = await headOf((res) => {
      res.setHeader('content-type', 'text/plain');
      setTraceResponse(res, VALUE);
      res.writeHead(201, { 'x-app': '1' });
      res.end();
    });
    expect(after.head).to.include({ traceresponse: VALUE, 'content-type': 'text/plain', 'x-app': '1' });
  });

  it('the app can still replace or remove it, as a header set with setHeader', async () => {
    const replaced = await headOf((res) => {
      setTraceResponse(res, VALUE);
      res.setHeader('TraceResponse', '00-11111111111111111111111111111111-2222222222222222-00');
      res.end();
    });
    expect(replaced.head.traceresponse).to.equal('00-11111111111111111111111111111111-2222222222222222-00');
    expect(replaced.raw.filter((h) => h.toLowerCase() === 'traceresponse')).to.have.length(1);
    const removed = await headOf((res) => {
      setTraceResponse(res, VALUE);
      res.removeHeader('traceresponse');
      res.end();
    });
    expect(removed.head).to.not.have.property('traceresponse');
  });
});
