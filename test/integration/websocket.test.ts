import { expect } from 'chai';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { startPounce, sleep } from '../helpers/pounce.js';
import { expectValidLifecycleLines } from '../helpers/schema.js';

async function openSocket(url: string): Promise<{ ws: WebSocket; messages: string[] }> {
  const ws = new WebSocket(url);
  const messages: string[] = [];
  ws.on('message', (data, isBinary) => messages.push(isBinary ? `binary:${(data as Buffer).length}` : String(data)));
  await once(ws, 'open');
  return { ws, messages };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await sleep(20);
  expect(check(), what).to.equal(true);
}

describe('WebSocket (the app exports websocket handlers)', () => {
  it('echoes over a real ws client; the connection opens as websocket, the upgrade is a 101, never slow', async () => {
    const pounce = await startPounce({
      app: 'websocket-echo.js',
      args: ['--lifecycle-logging', '--log-level', 'debug', '--log-slow-requests-threshold', '0.2'],
    });
    const { ws, messages } = await openSocket(`ws://127.0.0.1:${pounce.port}/chat?token=x`);
    ws.send('hi');
    ws.send(Buffer.alloc(5), { binary: true });
    await until(() => messages.length === 3, 'three messages back');
    expect(messages[0]).to.match(/^welcome \/chat conn=\d+$/);
    expect(messages.slice(1)).to.deep.equal(['echo: hi', 'binary:5']);
    await sleep(400); // longer than the slow threshold
    ws.close(1000, 'bye');
    await once(ws, 'close');
    const done = await pounce.waitForEvent('ConnectionCompleted');
    expect(done).to.include({ reason: 'complete', requests_served: 1 });
    const events = pounce.connectionEvents(done.connection_id);
    expect(events.map((e) => e.event)).to.deep.equal(['ConnectionOpened', 'RequestStarted', 'ResponseCompleted', 'ConnectionCompleted']);
    expect(events[0]).to.include({ protocol: 'websocket' });
    expect(events[1]).to.include({ method: 'GET', path: '/chat' });
    expect(events[2]).to.include({ status: 101, level: 'debug' });
    expect(events[2]).not.to.have.property('slow');
    expect(pounce.events('RequestSlow')).to.deep.equal([]);
    expect(messages[0]).to.equal(`welcome /chat conn=${done.connection_id}`);
    await until(() => pounce.stderr.includes('CLOSED 1000'), 'the close handler ran');
    // Plain HTTP still goes to fetch.
    expect(await (await fetch(pounce.url)).text()).to.equal('http here\n');
    expect((await pounce.stop()).code).to.equal(0);
    expectValidLifecycleLines(pounce.lines);
  });

  it('a handler that throws is logged with the connection id; the socket stays usable', async () => {
    const pounce = await startPounce({ app: 'websocket-echo.js', args: ['--lifecycle-logging'] });
    const { ws, messages } = await openSocket(`ws://127.0.0.1:${pounce.port}/`);
    ws.send('boom');
    ws.send('after');
    await until(() => messages.includes('echo: after'), 'echo after the throw');
    const error = await pounce.waitFor((l) => l.level === 'error' && l.logger === 'pounce.app');
    expect(error.err.message).to.equal('handler boom');
    expect(error.connection_id).to.be.a('number');
    ws.close();
    await pounce.stop();
  });

  it('on SIGTERM open WebSockets are closed with 1001 (going away) and the server exits 0', async () => {
    const pounce = await startPounce({ app: 'websocket-echo.js', args: ['--lifecycle-logging', '--log-level', 'debug'] });
    const { ws } = await openSocket(`ws://127.0.0.1:${pounce.port}/`);
    const closed = once(ws, 'close');
    const { code } = await pounce.stop('SIGTERM', 8000);
    const [closeCode] = (await closed) as [number];
    expect(closeCode).to.equal(1001);
    expect(code).to.equal(0);
    expect(pounce.events('ConnectionCompleted')[0]).to.include({ reason: 'shutdown' });
  });
});

describe('WebSocket with serve() in code', () => {
  it('a { fetch, websocket } object handed to serve() upgrades too (Bun style)', async () => {
    const { serve, ServerConfig } = await import('../../src/index.js');
    const server = await serve(
      {
        fetch: () => new Response('http'),
        websocket: { message: (ws: { send(m: string): void }, message: string) => ws.send(`got ${message}`) },
      } as never,
      new ServerConfig({ port: 0, logLevel: 'error' }, { env: {} }),
      { handleSignals: false },
    );
    try {
      const { ws, messages } = await openSocket(`ws://127.0.0.1:${server.port}/`);
      ws.send('ping');
      await until(() => messages.length === 1, 'a reply');
      expect(messages).to.deep.equal(['got ping']);
      ws.close();
      await once(ws, 'close');
    } finally {
      await server.close();
    }
  });
});
