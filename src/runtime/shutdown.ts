import type { Server } from 'node:http';
import type { LoadedApp } from '../app/types.js';
import type { ServerConfig } from '../config/server-config.js';
import type { Loggers } from '../observability/logger.js';
import type { HealthState } from '../server/health.js';
import type { Tracker } from '../server/tracker.js';

export interface DrainOptions {
  server: Server;
  tracker: Tracker | undefined;
  health: HealthState;
  config: ServerConfig;
  loggers: Loggers;
  app: LoadedApp;
}

const POLL_MS = 50;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Graceful drain, in order:
 * 1. health answers 503 draining (responses get `Connection: close`);
 * 2. keep serving for drainDelay, so load balancers see the 503 and stop sending;
 * 3. stop accepting; close idle keep-alive connections (reason `shutdown`);
 * 4. let in-flight requests finish, closing each connection once it is idle,
 *    for up to shutdownTimeout; then cut what is left and say which;
 * 5. run the app's shutdown export.
 */
export async function drainServer(options: DrainOptions): Promise<void> {
  const { server, tracker, health, config, loggers, app } = options;
  health.draining = true;
  if (config.drainDelay > 0) await sleep(config.drainDelay * 1000);

  let listenerClosed = false;
  const closed = new Promise<void>((resolve) => server.close(() => resolve())).then(() => (listenerClosed = true));
  // The listener's close can run before the last sockets' 'close' events:
  // done means both, so every ConnectionCompleted is logged before we exit.
  const done = () => listenerClosed && (tracker?.connections.size ?? 0) === 0;
  const deadline = Date.now() + config.shutdownTimeout * 1000;
  while (!done() && Date.now() < deadline) {
    closeIdle(server, tracker);
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

function closeIdle(server: Server, tracker: Tracker | undefined): void {
  if (tracker) {
    for (const conn of tracker.connections) if (conn.inflight === 0) conn.closeBecause('shutdown');
  }
  server.closeIdleConnections();
}
