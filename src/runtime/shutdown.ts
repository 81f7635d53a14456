import type { Server } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { LoadedApp } from '../app/types.js';
import type { ServerConfig } from '../config/server-config.js';
import type { Loggers } from '../observability/logger.js';
import type { Connection } from '../server/connection.js';
import type { HealthState } from '../server/health.js';
import type { Tracker } from '../server/tracker.js';

export interface DrainOptions {
  server: Server;
  tracker: Tracker | undefined;
  health: HealthState;
  config: ServerConfig;
  loggers: Loggers;
  app: LoadedApp;
  /** Overrides config.drainDelay: a rolling restart has no load balancer to wait for (the port stays served). */
  drainDelay?: number;
  /** Told the ids of the connections still open, once the listener is closed and whenever they change. */
  onProgress?: (openConnectionIds: number[]) => void;
}

const POLL_MS = 50;
/**
 * An idle keep-alive connection is closed once it has stayed idle this long
 * after the listener closed. A busy client's connection is never idle that
 * long: its next response carries `Connection: close` and ends it cleanly.
 */
const IDLE_GRACE_MS = 200;
/**
 * After the last response of a connection closed by the drain: half-close
 * (FIN), stop reading, and only then, this much later, close the socket. A
 * client that already sent its next request (as keep-alive clients under load
 * do) sees an orderly end of stream and retries on a new connection, instead
 * of a reset that could also destroy the response it has not read yet
 * (RFC 9112 section 9.6, "lingering close").
 */
const LINGER_MS = 500;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Graceful drain, in order:
 * 1. health answers 503 draining; every response from now on, including those
 *    in flight whose head is not sent yet, gets `Connection: close`;
 * 2. keep serving for drainDelay, so load balancers see the 503 and stop sending;
 * 3. stop accepting; close keep-alive connections that stay idle (reason
 *    `shutdown`), with a lingering close;
 * 4. let in-flight requests finish (each connection closes after its last
 *    response) for up to shutdownTimeout; then cut what is left and say which;
 * 5. run the app's shutdown export.
 */
export async function drainServer(options: DrainOptions): Promise<void> {
  const { server, tracker, health, config, loggers, app, onProgress } = options;
  health.draining = true;
  beginDraining(server, tracker);
  const drainDelay = options.drainDelay ?? config.drainDelay;
  if (drainDelay > 0) await sleep(drainDelay * 1000);

  let listenerClosed = false;
  // net's close, not http's: node:http's close() also destroys every connection
  // that is idle at this instant, including a keep-alive client's whose next
  // request is already on the wire (it would get a reset). Idle connections are
  // closed below, after a grace period and with a lingering close.
  const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())).then(() => (listenerClosed = true));
  // Upgraded connections are outside node:http's bookkeeping: say goodbye (1001, going away).
  if (health.websockets?.size) {
    for (const conn of tracker?.connections ?? []) if (conn.protocol === 'websocket') conn.closeBecause('shutdown');
    health.websockets.closeAll(1001, 'server shutting down');
  }
  // The listener's close can run before the last sockets' 'close' events:
  // done means both, so every ConnectionCompleted is logged before we exit.
  const done = () => listenerClosed && (tracker?.connections.size ?? 0) === 0;
  const deadline = Date.now() + config.shutdownTimeout * 1000;
  const idleSince = new Map<Connection, number>();
  const graceEnd = Date.now() + IDLE_GRACE_MS;
  let reported: string | undefined;
  const report = () => {
    if (!onProgress || !tracker) return;
    const ids = [...tracker.connections].map((c) => c.id);
    const key = ids.join(',');
    if (key !== reported) onProgress(ids);
    reported = key;
  };
  while (!done() && Date.now() < deadline) {
    closeIdle(server, tracker, idleSince, graceEnd);
    report();
    await Promise.race([closed, sleep(POLL_MS)]);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (!done()) {
    const cut = tracker?.busyConnections() ?? [];
    loggers.server.warn(
      { event: 'ShutdownTimeout', shutdown_timeout_s: config.shutdownTimeout, connection_ids: cut.map((c) => c.id) },
      `shutdown timeout: cutting ${cut.length} connection(s) with requests in flight`,
    );
    for (const conn of tracker?.connections ?? []) conn.closeBecause('shutdown');
    server.closeAllConnections();
    health.websockets?.terminateAll();
    await closed;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (app.shutdown) {
    try {
      await app.shutdown();
    } catch (err) {
      loggers.app.error({ err }, 'app shutdown() failed');
    }
  }
}

/**
 * From now on every response is its connection's last (in-flight ones whose
 * head is not sent yet too; new requests get it in http1.ts), and a
 * connection closed after its last response lingers instead of being
 * destroyed at once.
 */
function beginDraining(server: Server, tracker: Tracker | undefined): void {
  tracker?.lastResponses();
  const linger = (socket: Socket) => {
    // node:http ends a connection after a `Connection: close` response with destroySoon().
    (socket as Socket & { destroySoon(): void }).destroySoon = () => {
      tracker?.connectionOf(socket)?.closeBecause('shutdown');
      lingeringClose(socket);
    };
  };
  if (tracker) for (const conn of tracker.connections) linger(conn.socket);
  // Connections still accepted during drainDelay.
  server.on('connection', linger);
}

function lingeringClose(socket: Socket): void {
  if (socket.destroyed || socket.writableEnded) return;
  socket.pause();
  socket.end();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** Close connections that have stayed idle (no request in flight) since the grace period began. */
function closeIdle(server: Server, tracker: Tracker | undefined, idleSince: Map<Connection, number>, graceEnd: number): void {
  const now = Date.now();
  if (!tracker) {
    if (now >= graceEnd) server.closeIdleConnections();
    return;
  }
  for (const conn of tracker.connections) {
    // Only HTTP/1 keep-alive connections: upgraded ones (WebSocket) are closed by their own protocol.
    if (conn.inflight > 0 || conn.protocol !== 'h1') {
      idleSince.delete(conn);
      continue;
    }
    const since = idleSince.get(conn);
    if (since === undefined) {
      idleSince.set(conn, now);
    } else if (now - since >= IDLE_GRACE_MS) {
      idleSince.delete(conn);
      conn.closeBecause('shutdown');
      lingeringClose(conn.socket);
    }
  }
}
