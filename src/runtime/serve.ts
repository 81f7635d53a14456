import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachUpgradeHandlers, toLoadedApp } from '../app/load.js';
import { requestContextArmed } from '../app/context.js';
import type { AppInput, LoadedApp } from '../app/types.js';
import { ServerConfig } from '../config/server-config.js';
import type { ServerOptionsInput } from '../config/options.js';
import { LifecycleEmitter } from '../lifecycle/emitter.js';
import { AccessLog } from '../observability/access-log.js';
import { createLoggers, type Loggers } from '../observability/logger.js';
import { tracingPlan } from '../observability/tracing/settings.js';
import { createHttp1Server } from '../server/http1.js';
import type { HealthState } from '../server/health.js';
import type { Observer } from '../server/observer.js';
import { Tracker } from '../server/tracker.js';
import { TrustedProxies } from '../server/forwarded.js';
import { drainServer } from './shutdown.js';
import { effectiveConfig, VERSION } from './startup-info.js';

export interface WorkerIdentity {
  /** 1..N; 1 for a single process. */
  workerId: number;
  /** How many workers hand out connection ids (worker k uses k, k+N, ...). */
  workerCount: number;
}

export interface ServeOptions extends Partial<WorkerIdentity> {
  /** Loggers to use instead of creating them from the config (the CLI passes its own). */
  loggers?: Loggers;
  /** Extra observers (tracing, metrics) placed before the logs so that their ids are set first. */
  observers?: Observer[];
  /** Install SIGTERM/SIGINT handlers that drain and exit (default true). */
  handleSignals?: boolean;
  /**
   * `worker` when run in a slot of pounce's supervisor: the process announces
   * itself with WorkerStarted/WorkerStopped, and the supervisor announces the
   * server (ServerStarted once all workers listen, ServerStopped). Default `server`.
   */
  role?: 'server' | 'worker';
  /**
   * First connection id (default workerId; then +workerCount each). The
   * supervisor gives a restarted worker a fresh block, so that ids never repeat
   * while the old and the new process of one slot overlap.
   */
  firstConnectionId?: number;
}

/** How a close() differs from the configured drain. */
export interface CloseOptions {
  /** Seconds of serving with health at 503 before the listener closes (default: the drainDelay option). */
  drainDelay?: number;
  /** Told the ids of the connections still open while the drain waits for them. */
  onProgress?: (openConnectionIds: number[]) => void;
}

/** A running pounce server. */
export interface PounceServer {
  readonly config: ServerConfig;
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  readonly loggers: Loggers;
  /** Drain and close: stop accepting, finish in-flight requests, run the app's shutdown. */
  close(options?: CloseOptions): Promise<void>;
}

/** Serve an app: `await serve(app, new ServerConfig({ ... }))`. */
export async function serve(
  app: AppInput | LoadedApp,
  config: ServerConfig | ServerOptionsInput = new ServerConfig(),
  options: ServeOptions = {},
): Promise<PounceServer> {
  const cfg = config instanceof ServerConfig ? config : new ServerConfig(config);
  const workerId = options.workerId ?? 1;
  const workerCount = options.workerCount ?? 1;
  const loggers = options.loggers ?? createLoggers({ format: cfg.logFormat, level: cfg.logLevel, workerId });
  const loaded = isLoadedApp(app) ? app : programmaticApp(app, cfg, loggers);

  const thresholdMs = cfg.logSlowRequestsThreshold * 1000;
  // OpenTelemetry is imported only when tracing is on (an endpoint, or an SDK the app registered).
  const plan = tracingPlan(cfg);
  const tracing = plan
    ? await (await import('../observability/tracing/index.js')).startTracing(plan, {
        logger: loggers.server,
        workerId,
        thresholdMs,
        appDescription: loaded.description,
        version: VERSION,
      })
    : undefined;

  await loaded.startup?.();

  const observers: Observer[] = [...(tracing ? [tracing.observer] : []), ...(options.observers ?? [])];
  const proxies = cfg.forwardedAllowIps ? new TrustedProxies(cfg.forwardedAllowIps) : undefined;
  if (cfg.lifecycleLogging) observers.push(new LifecycleEmitter(loggers.lifecycle, thresholdMs));
  if (cfg.accessLog && loggers.access.isLevelEnabled('info')) observers.push(new AccessLog(loggers.access));
  // prom-client is imported only when metrics are asked for.
  const metrics = cfg.metricsPath ? new (await import('../observability/metrics.js')).Metrics({ worker_id: workerId }) : undefined;
  if (metrics) observers.push(metrics);
  if (metrics && options.role === 'worker') metrics.source = await (await import('./cluster-metrics.js')).clusterMetricsSource(metrics.registry);
  // An app that reads currentRequest() needs connection ids even with every log off.
  const needsTracking = observers.length > 0 || cfg.maxConnections > 0 || cfg.maxRequestsPerConnection > 0 || requestContextArmed() || proxies !== undefined;
  const tracker = needsTracking
    ? new Tracker({
        idStart: options.firstConnectionId ?? workerId,
        idStride: workerCount,
        maxConnections: cfg.maxConnections,
        observers,
        tracing: tracing?.observer,
        slowThresholdMs: thresholdMs,
        proxies,
        onObserverError: (observer, hook, err) =>
          loggers.server.error(
            { event: 'ObserverFailed', observer: observer.constructor?.name, hook, err },
            `${observer.constructor?.name ?? 'an observer'} threw in ${hook}: its output is lost (said once), requests go on`,
          ),
      })
    : undefined;

  const health: HealthState = {
    draining: false,
    workerId,
    startedAt: Date.now(),
    openConnections: () => tracker?.connections.size ?? 0,
  };
  const server = createHttp1Server({ config: cfg, app: loaded, tracker, health, appLogger: loggers.app, workerId, metrics });
  // ws is loaded only for an app that takes upgrades.
  if (loaded.websocket || loaded.upgrade) {
    const { attachUpgrades } = await import('../server/websocket.js');
    health.websockets = attachUpgrades(server, { app: loaded, tracker, health, appLogger: loggers.app, workerId, maxPayload: cfg.maxBodySize });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const role = options.role ?? 'server';
  if (role === 'worker') {
    loggers.server.info(
      { event: 'WorkerStarted', pid: process.pid, host: address.address, port: address.port, url, app: loaded.description, interface: loaded.interface },
      `worker ${workerId} (pid ${process.pid}) serving ${loaded.description} on ${url}`,
    );
  } else {
    loggers.server.info(
      {
        event: 'ServerStarted',
        version: VERSION,
        pid: process.pid,
        host: address.address,
        port: address.port,
        url,
        workers: workerCount,
        app: loaded.description,
        interface: loaded.interface,
        config: effectiveConfig(cfg),
      },
      `pounce ${VERSION} serving ${loaded.description} on ${url}`,
    );
  }

  let closing: Promise<void> | undefined;
  const close = (closeOptions: CloseOptions = {}) =>
    (closing ??= drainServer({ server, tracker, health, config: cfg, loggers, app: loaded, ...closeOptions }).finally(async () => {
      tracker?.stop();
      // Every request is finished: its span has ended. Send what is queued (bounded, never throws).
      await tracing?.shutdown();
      if (role === 'worker') loggers.server.info({ event: 'WorkerStopped', pid: process.pid }, `worker ${workerId} stopped`);
      else loggers.server.info({ event: 'ServerStopped' }, 'pounce stopped');
      // Loggers made here are ours to close (their writer thread ends); the caller's stay open.
      if (options.loggers) loggers.flush();
      else loggers.close();
    }));

  if (options.handleSignals ?? true) installSignalHandlers(close, loggers);

  return { config: cfg, server, port: address.port, url, loggers, close };
}

function isLoadedApp(app: unknown): app is LoadedApp {
  return typeof app === 'object' && app !== null && 'handler' in app && 'interface' in app && 'description' in app;
}

/** An app handed to serve() in code: adapted like a module's export, `websocket`/`upgrade` properties included. */
function programmaticApp(app: AppInput, cfg: ServerConfig, loggers: Loggers): LoadedApp {
  const target = unwrapDefault(app) as { websocket?: unknown; upgrade?: unknown } | null;
  const loaded = toLoadedApp(target, cfg.interface, 'app', loggers.app);
  attachUpgradeHandlers(loaded, target?.websocket, target?.upgrade, 'app');
  return loaded;
}

function unwrapDefault(app: AppInput): unknown {
  if (typeof app === 'object' && app !== null && !('fetch' in app) && 'default' in app) return app.default;
  return app;
}

/**
 * First SIGTERM/SIGINT drains and exits 0; a second one exits at once.
 * Logs are flushed either way.
 */
function installSignalHandlers(close: () => Promise<void>, loggers: Loggers): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      loggers.server.warn({ event: 'ShutdownForced', signal }, `second ${signal}: exiting now`);
      loggers.flush();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    signalled = true;
    loggers.server.info({ event: 'ShutdownStarted', signal }, `${signal} received: draining`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        loggers.server.error({ err }, 'shutdown failed');
        loggers.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
