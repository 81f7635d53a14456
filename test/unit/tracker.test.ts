import { expect } from 'chai';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection } from '../../src/server/connection.js';
import type { Observer, RequestHook } from '../../src/server/observer.js';
import type { RequestRecord } from '../../src/server/request-record.js';
import { Tracker } from '../../src/server/tracker.js';

/** A node:http server whose connections and requests `tracker` follows, as http1.ts wires it. */
async function trackedServer(tracker: Tracker): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const conn = tracker.connectionOf(req.socket)!;
    tracker.startRequest(conn, req, res, req.method ?? 'GET', req.url ?? '/', false);
    res.end('ok');
  });
  server.on('connection', (socket) => tracker.accept(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Two GETs over one keep-alive connection, then the connection closes. */
async function twoRequests(port: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (const path of ['/a', '/b']) {
    await new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
  }
  agent.destroy();
}

describe('Tracker: the observers, told in order, each on its own', () => {
  it('a throwing observer loses only its own output (said once); a hook an observer does not listen to is never called', async () => {
    const seen: string[] = [];
    const quietSeen: string[] = [];
    const failures: Array<[string, string]> = [];
    const throwing: Observer = {
      requestStarted() {
        throw new Error('boom');
      },
      responseCompleted() {
        throw new Error('boom again');
      },
    };
    const recording: Observer = {
      connectionOpened: (conn: Connection) => seen.push(`opened ${conn.id}`),
      requestStarted: (rec: RequestRecord) => seen.push(`started ${rec.path}`),
      responseCompleted: (rec: RequestRecord) => seen.push(`completed ${rec.path} ${rec.status} ${rec.bytesSent}`),
      connectionCompleted: (conn: Connection) => seen.push(`closed ${conn.id} ${conn.requestsServed}`),
    };
    const quiet: Observer = {
      listens: (hook: RequestHook) => hook !== 'requestStarted',
      requestStarted: (rec: RequestRecord) => quietSeen.push(`started ${rec.path}`),
      responseCompleted: (rec: RequestRecord) => quietSeen.push(`completed ${rec.path}`),
    };
    const tracker = new Tracker({
      idStart: 1,
      idStride: 1,
      maxConnections: 0,
      observers: [throwing, recording, quiet],
      slowThresholdMs: 0,
      onObserverError: (observer, hook) => failures.push([observer === throwing ? 'throwing' : 'other', hook]),
    });
    const { server, port } = await trackedServer(tracker);
    try {
      await twoRequests(port);
      // The connection's close reaches the server after the client's.
      for (let i = 0; i < 100 && !seen.some((s) => s.startsWith('closed')); i++) await new Promise((r) => setTimeout(r, 10));
    } finally {
      server.close();
      tracker.stop();
    }
    expect(seen).to.deep.equal(['opened 1', 'started /a', 'completed /a 200 2', 'started /b', 'completed /b 200 2', 'closed 1 2']);
    expect(quietSeen).to.deep.equal(['completed /a', 'completed /b']);
    expect(failures).to.deep.equal([['throwing', 'requestStarted']]);
  });
});
