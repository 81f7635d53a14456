import { ServerResponse, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { runInRequestContext, runTracedRequest } from '../app/context.js';
import type { LoadedApp } from '../app/types.js';
import type { HealthState } from './health.js';
import { loggablePath, pathOf } from './path.js';
import type { Tracker } from './tracker.js';
import type { RequestRecord } from './request-record.js';

export interface UpgradeOptions {
  app: LoadedApp;
  tracker: Tracker | undefined;
  health: HealthState;
  appLogger: Logger;
  workerId: number;
  maxPayload: number;
}

/** Open WebSockets, so that a drain can close them with 1001 (going away). */
export interface WebSocketRegistry {
  closeAll(code: number, reason: string): void;
  /** Cut every socket at once (the drain's deadline passed). */
  terminateAll(): void;
  readonly size: number;
}

/**
 * Serve HTTP upgrades: the app's `websocket` handlers on the `ws` package, or
 * its own `upgrade(req, socket, head)`. Without either, no 'upgrade' listener
 * is installed and node:http hands upgrade requests to the app as plain requests.
 *
 * In the lifecycle log an upgrade is a request answered with 101; the
 * connection then lives until the WebSocket closes, and is never slow.
 */
export function attachUpgrades(server: Server, options: UpgradeOptions): WebSocketRegistry | undefined {
  const { app, tracker, health, appLogger, workerId } = options;
  if (!app.websocket && !app.upgrade) return undefined;
  const sockets = new Set<WebSocket>();
  const wss = app.websocket ? new WebSocketServer({ noServer: true, maxPayload: options.maxPayload || 100 * 1024 * 1024 }) : undefined;
  const handlers = app.websocket ?? {};

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const path = pathOf(req.url ?? '/');
    const conn = tracker?.connectionOf(req.socket as Socket);
    const detached = new ServerResponse(req);
    const rec = conn && tracker ? tracker.startUpgrade(conn, req, detached, req.method ?? 'GET', loggablePath(path)) : undefined;
    const answer = (status: number) => {
      if (rec && tracker) tracker.finishUpgrade(rec, status);
    };
    if (health.draining || conn?.refused) {
      conn?.closeBecause(conn.refused ? 'backpressure' : 'shutdown');
      refuseUpgrade(socket, 503);
      answer(503);
      return;
    }
    const run = <T>(fn: () => T): T =>
      rec && tracker ? (tracker.tracing ? runTracedRequest(rec, workerId, appLogger, tracker.tracing, fn) : runInRequestContext(rec, workerId, appLogger, fn)) : fn();
    if (app.upgrade) {
      // The app owns the socket from here; pounce only knows when it closes.
      answer(101);
      run(() => app.upgrade!(req, socket, head));
      return;
    }
    // ws emits 'headers' synchronously while it writes the 101: headers set by
    // observers (the trace id) go into it.
    const addHeaders = (headers: string[]) => copyHeaders(detached, headers);
    let upgraded = false;
    wss!.on('headers', addHeaders);
    wss!.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      answer(101);
      sockets.add(ws);
      ws.on('close', (code: number, reason: Buffer) => {
        sockets.delete(ws);
        call(rec, run, appLogger, () => handlers.close?.(ws, code, reason.toString()));
      });
      ws.on('error', (err: Error) => appLogger.warn({ err, connection_id: conn?.id }, 'WebSocket error'));
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        const message = isBinary ? toBuffer(data) : toBuffer(data).toString('utf8');
        call(rec, run, appLogger, () => handlers.message?.(ws, message, isBinary));
      });
      call(rec, run, appLogger, () => handlers.open?.(ws, req));
    });
    wss!.off('headers', addHeaders);
    // ws answered the handshake itself with an error status (bad key, version...).
    if (!upgraded) answer(400);
  });

  return {
    closeAll(code, reason) {
      for (const ws of sockets) ws.close(code, reason);
    },
    terminateAll() {
      for (const ws of sockets) ws.terminate();
    },
    get size() {
      return sockets.size;
    },
  };
}

/** Run a handler in the request's context; a throw or rejection is logged, the socket closed with 1011. */
function call(rec: RequestRecord | undefined, run: <T>(fn: () => T) => T, appLogger: Logger, fn: () => unknown): void {
  try {
    const result = run(fn) as { then?: unknown } | undefined;
    if (result && typeof result.then === 'function') {
      (result as Promise<unknown>).then(undefined, (err: unknown) => appLogger.error({ err, connection_id: rec?.conn.id }, 'Unhandled error in WebSocket handler'));
    }
  } catch (err) {
    appLogger.error({ err, connection_id: rec?.conn.id }, 'Unhandled error in WebSocket handler');
  }
}

function copyHeaders(from: ServerResponse, into: string[]): void {
  for (const [name, value] of Object.entries(from.getHeaders())) {
    if (value !== undefined) into.push(`${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`);
  }
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function refuseUpgrade(socket: Duplex, status: number): void {
  const body = `${STATUS_CODES[status]}\n`;
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}
