import type { ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { ServerConfig } from '../config/server-config.js';
import type { Loggers } from '../observability/logger.js';
import { serveClusterMetrics } from './cluster-metrics.js';
import { WORKER_ENV, isWorkerMessage, type DrainMode, type SupervisorMessage, type WorkerMessage } from './cluster-protocol.js';
import { effectiveConfig, VERSION } from './startup-info.js';

/** Restart delay of a crashed slot: 100 ms, doubling per consecutive crash, at most 5 s. */
export const BACKOFF_FIRST_MS = 100;
export const BACKOFF_MAX_MS = 5_000;
/** At most this many restarts within the window, across the server; the next crash stops pounce (exit 1). */
export const RESTART_BUDGET = 5;
export const RESTART_WINDOW_MS = 60_000;
/** A worker that served this long before crashing starts its slot's backoff afresh. */
const STABLE_MS = 10_000;
/** A draining worker gets drainDelay + shutdownTimeout + this (app shutdown, span flush) before it is killed. */
export const KILL_MARGIN_MS = 5_000;
/** After a second signal, or a failed start: how long workers get to exit before SIGKILL. */
const EXIT_GRACE_MS = 1_000;

/** `workers` option → process count: 0 means one per CPU. */
export function resolveWorkerCount(workers: number): number {
  return workers === 0 ? availableParallelism() : workers;
}

export interface SupervisorOptions {
  config: ServerConfig;
  /** Resolved count (> 1). */
  workers: number;
  /** The supervisor's own loggers (no worker_id), writing to the fd 1 the workers share. */
  loggers: Loggers;
}

interface Slot {
  readonly id: number;
  /** Processes started in this slot so far (a fresh block of connection ids each). */
  epochs: number;
  /** The worker serving (or starting to serve) this slot. */
  current: WorkerProcess | undefined;
  /** During a rolling restart: the replacement, until it listens. */
  next: WorkerProcess | undefined;
  /** Consecutive crashes, for the backoff. */
  crashes: number;
  restartTimer: NodeJS.Timeout | undefined;
}

interface WorkerProcess {
  readonly slot: Slot;
  readonly worker: Worker;
  readonly pid: number;
  /** The slot's first process, started with the server. */
  readonly initial: boolean;
  readonly startedAt: number;
  listeningAt: number | undefined;
  info: Extract<WorkerMessage, { pounce: 'listening' }> | undefined;
  startupError: { message: string; exitCode: number } | undefined;
  drainMode: DrainMode | 'exit' | undefined;
  /** Open connections as last reported while draining. */
  openConnections: number[] | undefined;
  killTimer: NodeJS.Timeout | undefined;
  killed: boolean;
  /** Resolves true once it listens, false if it exits first. */
  readonly listening: Promise<boolean>;
  readonly exited: Promise<void>;
  settle(listening: boolean): void;
  markExited(): void;
  /** Give back the connections handed to it that it never took (see trackHandoffs). */
  returnHandoffs(othersServing: boolean): number;
}

/**
 * The supervisor (node:cluster primary) of `--workers N` (N > 1). It never
 * loads the app; it keeps N worker processes in slots 1..N, each of which
 * serves the app on the one shared port (round-robin: the supervisor accepts
 * and hands each connection to a worker; with --port 0 it binds once, so all
 * workers share one real port).
 *
 * - Start: ServerStarted once every slot listens. A worker that fails to start
 *   fails the whole start, reported once (exit 2 for a usage error).
 * - Crash: the slot is restarted after 100 ms, 200 ms, ... up to 5 s; more than
 *   5 restarts within 60 s stop pounce with one error line (exit 1).
 * - SIGTERM/SIGINT: every worker drains (health 503, drainDelay, close,
 *   in-flight requests finish, app shutdown, logs and spans flushed); a worker
 *   still running after drainDelay + shutdownTimeout + 5 s is killed and the
 *   log says which connections that cut. A second signal exits at once.
 * - SIGHUP: rolling restart, one slot at a time: the new worker listens before
 *   the old one drains (no drainDelay: the port stays served), so no request
 *   is refused.
 *
 * Its own lines carry no worker_id, except WorkerExited/WorkerKilled, whose
 * worker_id is the slot they are about.
 */
export function runSupervisor(options: SupervisorOptions): void {
  new Supervisor(options).start();
}

class Supervisor {
  private phase: 'starting' | 'running' | 'stopping' = 'starting';
  private readonly slots: Slot[];
  private readonly live = new Set<WorkerProcess>();
  private restarts: number[] = [];
  private rolling = false;
  private exitCode = 0;
  private startupFailed = false;
  private signals = 0;
  private readonly config: ServerConfig;
  private readonly loggers: Loggers;
  private readonly count: number;

  constructor(options: SupervisorOptions) {
    this.config = options.config;
    this.loggers = options.loggers;
    this.count = options.workers;
    this.slots = Array.from({ length: this.count }, (_, i) => ({
      id: i + 1,
      epochs: 0,
      current: undefined,
      next: undefined,
      crashes: 0,
      restartTimer: undefined,
    }));
  }

  start(): void {
    // Round-robin unless the operator chose otherwise: even spread, and one bind for --port 0.
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_RR;
    // Workers run this same CLI with the same arguments; stdio is inherited (they write fd 1 themselves).
    cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2), silent: false });
    process.on('SIGTERM', () => this.onStopSignal('SIGTERM'));
    process.on('SIGINT', () => this.onStopSignal('SIGINT'));
    process.on('SIGHUP', () => void this.roll());
    // A scrape on any worker answers for the whole server (see cluster-metrics.ts).
    if (this.config.metricsPath) void serveClusterMetrics();
    for (const slot of this.slots) this.fork(slot, true);
  }

  private fork(slot: Slot, asCurrent: boolean): WorkerProcess {
    const epoch = slot.epochs++;
    const worker = cluster.fork({
      [WORKER_ENV.id]: String(slot.id),
      [WORKER_ENV.count]: String(this.count),
      [WORKER_ENV.epoch]: String(epoch),
    });
    let settle!: (listening: boolean) => void;
    let markExited!: () => void;
    const proc: WorkerProcess = {
      slot,
      worker,
      pid: worker.process.pid ?? 0,
      initial: epoch === 0,
      startedAt: Date.now(),
      listeningAt: undefined,
      info: undefined,
      startupError: undefined,
      drainMode: undefined,
      openConnections: undefined,
      killTimer: undefined,
      killed: false,
      listening: new Promise<boolean>((resolve) => (settle = resolve)),
      exited: new Promise<void>((resolve) => (markExited = resolve)),
      settle: (listening) => settle(listening),
      markExited: () => markExited(),
      returnHandoffs: trackHandoffs(worker),
    };
    if (asCurrent) slot.current = proc;
    this.live.add(proc);
    worker.on('message', (msg: unknown) => this.onMessage(proc, msg));
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      // 'exit' can come before the last IPC messages are read (a startup
      // error sent just before exiting): handle it once the channel is closed.
      if (worker.isConnected()) worker.once('disconnect', () => this.onExit(proc, code, signal));
      else this.onExit(proc, code, signal);
    });
    // IPC to a worker that has just died (EPIPE): its exit is handled on 'exit'.
    worker.on('error', () => {});
    if (this.phase === 'stopping') this.drain(proc, 'shutdown');
    return proc;
  }

  private send(proc: WorkerProcess, message: SupervisorMessage): void {
    if (proc.worker.isConnected()) proc.worker.send(message, undefined, () => {});
  }

  private onMessage(proc: WorkerProcess, msg: unknown): void {
    if (!isWorkerMessage(msg)) return;
    switch (msg.pounce) {
      case 'listening':
        proc.listeningAt = Date.now();
        proc.info = msg;
        proc.settle(true);
        if (this.phase === 'starting' && this.slots.every((s) => s.current?.listeningAt !== undefined)) this.announce();
        break;
      case 'startup-failed':
        proc.startupError = { message: msg.message, exitCode: msg.exitCode };
        break;
      case 'draining':
        proc.openConnections = msg.connectionIds;
        break;
    }
  }

  private announce(): void {
    this.phase = 'running';
    const info = this.slots[0]!.current!.info!;
    this.loggers.server.info(
      {
        event: 'ServerStarted',
        version: VERSION,
        pid: process.pid,
        host: info.host,
        port: info.port,
        url: info.url,
        workers: this.count,
        worker_pids: this.slots.map((s) => s.current!.pid),
        app: info.app,
        interface: info.interface,
        config: effectiveConfig(this.config),
      },
      `pounce ${VERSION} serving ${info.app} on ${info.url} with ${this.count} workers`,
    );
  }

  private onExit(proc: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.live.delete(proc);
    const othersServing = [...this.live].some((p) => p.listeningAt !== undefined && p.drainMode === undefined);
    const returned = proc.returnHandoffs(othersServing);
    if (returned > 0) {
      this.loggers.server[othersServing ? 'info' : 'warn'](
        { event: 'ConnectionsRequeued', worker_id: proc.slot.id, pid: proc.pid, connections: returned, requeued: othersServing },
        `${returned} connection(s) handed to worker ${proc.slot.id} as it died ` +
          (othersServing ? 'were given to another worker' : 'were closed: no other worker is serving'),
      );
    }
    if (proc.killTimer) clearTimeout(proc.killTimer);
    proc.settle(false);
    proc.markExited();
    const slot = proc.slot;
    const wasCurrent = slot.current === proc;
    if (wasCurrent) slot.current = undefined;
    const fields = {
      event: 'WorkerExited',
      worker_id: slot.id,
      pid: proc.pid,
      code,
      signal,
      uptime_s: Math.round((Date.now() - proc.startedAt) / 100) / 10,
    };
    const clean = code === 0 && !proc.killed;

    // Failing to start (never listening) fails the server's start; dying after listening is a crash.
    if (this.phase === 'starting' && !proc.drainMode && proc.initial && proc.listeningAt === undefined) {
      this.failStart(proc, code, signal);
      this.loggers.server.info({ ...fields, restart: false }, `worker ${slot.id} (pid ${proc.pid}) exited during startup`);
      this.maybeFinish();
      return;
    }
    if (this.phase === 'stopping' || proc.drainMode) {
      const level = clean || proc.drainMode === 'exit' ? 'info' : 'warn';
      const why = proc.drainMode === 'restart' ? 'replaced' : proc.drainMode === 'exit' ? 'stopped' : 'drained';
      this.loggers.server[level]({ ...fields, restart: false, reason: why }, `worker ${slot.id} (pid ${proc.pid}) exited (${why})`);
      this.maybeFinish();
      return;
    }
    if (slot.next === proc) {
      // A rolling restart's replacement that failed to start: roll() keeps the old one serving.
      this.loggers.server.warn(
        { ...fields, restart: false, reason: 'replacement failed to start', error: proc.startupError?.message },
        `worker ${slot.id}'s replacement (pid ${proc.pid}) exited before listening`,
      );
      return;
    }
    this.crashed(proc, fields);
  }

  /** An unexpected exit while running: restart the slot with backoff, within the budget. */
  private crashed(proc: WorkerProcess, fields: Record<string, unknown>): void {
    const slot = proc.slot;
    const error = proc.startupError?.message;
    // Code 0 without being told to stop: e.g. a SIGTERM sent to that worker alone.
    const reason = fields.code === 0 ? 'exited' : 'crashed';
    const what = `worker ${slot.id} (pid ${proc.pid}) exited unexpectedly (${fields.signal ?? `code ${fields.code}`})`;
    if (slot.next) {
      // A rolling restart is starting its replacement already.
      this.loggers.server.warn({ ...fields, restart: true, reason, error }, `${what}; its replacement is starting`);
      return;
    }
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.restarts.length >= RESTART_BUDGET) {
      this.loggers.server.warn({ ...fields, restart: false, reason, error }, what);
      this.loggers.server.error(
        {
          event: 'RestartBudgetExhausted',
          worker_id: slot.id,
          restarts: this.restarts.length,
          window_s: RESTART_WINDOW_MS / 1000,
        },
        `worker ${slot.id} crashed again after ${this.restarts.length} restarts within ${RESTART_WINDOW_MS / 1000} s: ` +
          `restart budget exhausted, stopping pounce` + (error ? ` (last error: ${error})` : ''),
      );
      this.stop(1);
      return;
    }
    if (proc.listeningAt !== undefined && now - proc.listeningAt >= STABLE_MS) slot.crashes = 0;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** slot.crashes);
    slot.crashes++;
    this.restarts.push(now);
    this.loggers.server.warn(
      { ...fields, restart: true, restart_in_ms: delay, reason, error },
      `${what}; restarting it in ${delay} ms`,
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.phase !== 'stopping' && !slot.current && !slot.next) this.fork(slot, true);
    }, delay);
  }

  /** A worker exited before every slot listened: the start fails, reported once. */
  private failStart(proc: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.startupFailed) return;
    this.startupFailed = true;
    this.phase = 'stopping';
    const message =
      proc.startupError?.message ?? `worker ${proc.slot.id} (pid ${proc.pid}) exited during startup (${signal ?? `code ${code}`})`;
    this.exitCode = proc.startupError?.exitCode ?? 1;
    this.loggers.server.error({ event: 'StartupFailed', worker_id: proc.slot.id }, message);
    for (const other of this.live) this.forceExit(other);
  }

  /** Tell a worker to exit now; SIGKILL it if it has not after a second. */
  private forceExit(proc: WorkerProcess): void {
    if (proc.drainMode === 'exit') return;
    proc.drainMode = 'exit';
    this.send(proc, { pounce: 'exit' });
    if (proc.killTimer) clearTimeout(proc.killTimer);
    proc.killTimer = setTimeout(() => {
      proc.killed = true;
      proc.worker.process.kill('SIGKILL');
    }, EXIT_GRACE_MS);
  }

  private drain(proc: WorkerProcess, mode: DrainMode): void {
    if (proc.drainMode) return;
    proc.drainMode = mode;
    this.send(proc, { pounce: 'drain', mode });
    const limitMs = ((mode === 'shutdown' ? this.config.drainDelay : 0) + this.config.shutdownTimeout) * 1000 + KILL_MARGIN_MS;
    proc.killTimer = setTimeout(() => {
      const ids = proc.openConnections ?? [];
      this.loggers.server.warn(
        { event: 'WorkerKilled', worker_id: proc.slot.id, pid: proc.pid, after_s: limitMs / 1000, connection_ids: ids },
        `worker ${proc.slot.id} (pid ${proc.pid}) still running ${limitMs / 1000} s after it was told to drain: ` +
          `killing it` + (ids.length ? `, cutting connection(s) ${ids.join(', ')}` : ''),
      );
      proc.killed = true;
      proc.worker.process.kill('SIGKILL');
    }, limitMs);
  }

  private onStopSignal(signal: 'SIGTERM' | 'SIGINT'): void {
    this.signals++;
    if (this.signals > 1) {
      this.loggers.server.warn({ event: 'ShutdownForced', signal }, `second ${signal}: exiting now`);
      this.exitCode = signal === 'SIGINT' ? 130 : 143;
      this.phase = 'stopping';
      for (const proc of this.live) this.forceExit(proc);
      this.maybeFinish();
      return;
    }
    this.loggers.server.info({ event: 'ShutdownStarted', signal }, `${signal} received: draining ${this.live.size} worker(s)`);
    this.stop(0);
  }

  private stop(exitCode: number): void {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.exitCode = exitCode;
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
    }
    for (const proc of this.live) this.drain(proc, 'shutdown');
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.phase !== 'stopping' || this.live.size > 0) return;
    if (!this.startupFailed) this.loggers.server.info({ event: 'ServerStopped', exit_code: this.exitCode }, 'pounce stopped');
    this.loggers.flush();
    process.exit(this.exitCode);
  }

  /** SIGHUP: replace every worker, one slot at a time, the new one listening before the old one drains. */
  private async roll(): Promise<void> {
    if (this.phase !== 'running' || this.rolling) {
      this.loggers.server.info(
        { event: 'RollingRestartIgnored', phase: this.phase },
        this.rolling ? 'SIGHUP: a rolling restart is already under way' : `SIGHUP ignored while ${this.phase}`,
      );
      return;
    }
    this.rolling = true;
    const started = Date.now();
    this.loggers.server.info({ event: 'RollingRestartStarted', workers: this.count }, 'SIGHUP received: rolling restart of the workers');
    try {
      for (const slot of this.slots) {
        if (this.phase !== 'running') return;
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        slot.restartTimer = undefined;
        const old = slot.current;
        const fresh = this.fork(slot, false);
        slot.next = fresh;
        const ok = await fresh.listening;
        slot.next = undefined;
        if (!ok) {
          this.loggers.server.error(
            { event: 'RollingRestartFailed', worker_id: slot.id, error: fresh.startupError?.message },
            `rolling restart stopped: worker ${slot.id}'s replacement failed to start; the running workers keep serving` +
              (fresh.startupError ? ` (${fresh.startupError.message})` : ''),
          );
          return;
        }
        // Stopping meanwhile: stop() has told the fresh worker to drain too.
        if (this.phase !== 'running') return;
        slot.current = fresh;
        slot.crashes = 0;
        if (old && this.live.has(old)) {
          this.drain(old, 'restart');
          await old.exited;
        }
      }
      this.loggers.server.info(
        {
          event: 'RollingRestartCompleted',
          workers: this.count,
          worker_pids: this.slots.map((s) => s.current?.pid ?? null),
          duration_ms: Date.now() - started,
        },
        `rolling restart done: ${this.count} workers replaced`,
      );
    } finally {
      this.rolling = false;
    }
  }
}

type ClusterMessage = { cmd?: unknown; act?: unknown; seq?: unknown; ack?: unknown };
type Closable = { close(): void };

/**
 * node:cluster's round-robin accepts each connection in the supervisor and
 * hands it to a worker, forgetting it until the worker acknowledges it; only a
 * worker that answers "not accepted" (it is closing) gets its connection sent
 * elsewhere. A worker that dies first (kill -9, a crash, the OOM killer) never
 * answers: the connections handed to it in its last moments stay open in the
 * supervisor, unanswered, and their clients hang until their own timeout.
 *
 * So the supervisor notes each handoff until it is acknowledged, and once the
 * worker is gone (node:cluster has dropped it from the round-robin), answers
 * "not accepted" on its behalf: node:cluster then hands those connections to
 * another worker. (This uses node:cluster's internal message protocol, stable
 * since Node 0.12: `{cmd: 'NODE_CLUSTER', act: 'newconn', seq}` and the reply
 * `{cmd: 'NODE_CLUSTER', ack: seq, accepted}` on 'internalMessage'.)
 *
 * Returns the function that gives back what is outstanding (or, with no
 * other worker serving, closes it: the client sees a close, not a hang).
 */
function trackHandoffs(worker: Worker): (othersServing: boolean) => number {
  const child = worker.process as ChildProcess & { send: (...args: unknown[]) => boolean };
  const pending = new Map<number, Closable | undefined>();
  const send = child.send;
  child.send = function (this: ChildProcess, ...args: unknown[]): boolean {
    const message = args[0] as ClusterMessage | undefined;
    if (message?.cmd === 'NODE_CLUSTER' && message.act === 'newconn' && typeof message.seq === 'number') {
      pending.set(message.seq, args[1] as Closable | undefined);
    }
    return send.apply(this, args);
  };
  child.on('internalMessage', (message: ClusterMessage) => {
    if (message?.cmd === 'NODE_CLUSTER' && typeof message.ack === 'number') pending.delete(message.ack);
  });
  return (othersServing) => {
    const outstanding = [...pending];
    pending.clear();
    for (const [seq, handle] of outstanding) {
      if (othersServing) child.emit('internalMessage', { cmd: 'NODE_CLUSTER', ack: seq, accepted: false });
      else handle?.close();
    }
    return outstanding.length;
  };
}
