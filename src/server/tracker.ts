import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowMs } from '../observability/clock.js';
import { Connection } from './connection.js';
import type { TrustedProxies } from './forwarded.js';
import { RequestRecord } from './request-record.js';
import type { Observer, RequestHook, RequestTracing } from './observer.js';
import { meterSocket } from './socket-meter.js';

export interface TrackerOptions {
  /** First connection id and the step between ids: worker k of N hands out k, k+N, k+2N... */
  idStart: number;
  idStride: number;
  /** 0 = no limit. */
  maxConnections: number;
  observers: readonly Observer[];
  /** Starts each request's span and sets its trace ids before the observers run. */
  tracing?: RequestTracing | undefined;
  /** Requests in flight this long are reported slow; 0 = no watch. */
  slowThresholdMs: number;
  /** Peers whose Forwarded / X-Forwarded-* headers are believed. */
  proxies?: TrustedProxies | undefined;
  /** Told once per observer that threw (its own output is lost, nothing else). */
  onObserverError?: (observer: Observer, hook: string, error: unknown) => void;
}

const kConnection = Symbol('pounce.connection');

type TrackedSocket = Socket & { [kConnection]?: Connection };

/**
 * node:http publishes each response's 'finish' here (every server of the
 * process, one subscriber for all trackers): a response that went out whole
 * ends its request. One channel message per response costs less than a
 * listener added to each response (events.addListener and its checks), and
 * needs nothing of the response's prototype. A response that never finishes
 * ends with its connection (Tracker.socketClosed).
 */
const RESPONSE_FINISH = 'http.server.response.finish';

interface ResponseFinish {
  response: ServerResponse;
  socket: Socket;
}

function onResponseFinish(message: unknown): void {
  const { response, socket } = message as ResponseFinish;
  const conn = (socket as TrackedSocket)[kConnection];
  // Untracked: another server's socket, or a health or metrics answer (no record).
  if (conn === undefined || conn.first === undefined) return;
  const rec = conn.first.res === response ? conn.first : conn.find(response);
  if (rec !== undefined) conn.tracker.endRequest(rec);
}

/** Trackers alive: the channel is listened to while there is one (with none, node:http skips the message). */
let liveTrackers = 0;

/** What a connection refused at maxConnections gets, at once. */
const REFUSED_RESPONSE =
  'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\nService Unavailable\n';

/**
 * Follows every connection and request and tells the observers what happens,
 * in order: opened, then per request started → (slow) → completed,
 * disconnected or aborted, then completed. It owns the one periodic sweep
 * that finds requests still in flight past the slow threshold.
 *
 * It observes node:http's own objects from the outside (the socket, node:http's
 * diagnostics channel): nothing depends on the prototype of the req/res the
 * app gets.
 */
export class Tracker {
  readonly connections = new Set<Connection>();
  private nextId: number;
  private readonly stride: number;
  private liveConnections = 0;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private readonly observers: readonly Observer[];
  readonly tracing: RequestTracing | undefined;
  readonly proxies: TrustedProxies | undefined;
  private readonly failed = new Set<Observer>();
  private stopped = false;
  /** Per request hook, the observers that listen to it: no lookup by hook name per request. */
  private readonly onStarted: readonly HookCall[];
  private readonly onCompleted: readonly HookCall[];
  private readonly onDisconnected: readonly HookCall[];
  private readonly onAborted: readonly HookCall[];

  constructor(private readonly options: TrackerOptions) {
    this.nextId = options.idStart;
    this.stride = options.idStride;
    this.observers = options.observers;
    this.tracing = options.tracing;
    this.proxies = options.proxies;
    this.onStarted = callsOf(this.observers, 'requestStarted');
    this.onCompleted = callsOf(this.observers, 'responseCompleted');
    this.onDisconnected = callsOf(this.observers, 'clientDisconnected');
    this.onAborted = callsOf(this.observers, 'requestAborted');
    if (liveTrackers++ === 0) subscribe(RESPONSE_FINISH, onResponseFinish);
    if (options.slowThresholdMs > 0 && this.observers.some((o) => o.requestSlow)) {
      // One sweep for all requests, never a timer per request: within a quarter
      // of the threshold (at most 1 s) of a request turning slow, it is reported.
      const period = Math.max(10, Math.min(1000, options.slowThresholdMs / 4));
      this.sweepTimer = setInterval(() => this.sweep(), period);
      this.sweepTimer.unref();
    }
  }

  /** A socket was accepted. */
  accept(socket: Socket): Connection {
    const conn = new Connection(this.nextId, nowMs(), socket, this);
    this.nextId += this.stride;
    (socket as TrackedSocket)[kConnection] = conn;
    this.connections.add(conn);
    meterSocket(socket, conn);
    socket.once('close', () => this.socketClosed(conn));
    if (this.options.maxConnections > 0 && this.liveConnections >= this.options.maxConnections) {
      // Answered at once and closed, not held until a request arrives (or never does).
      conn.refused = true;
      conn.closeBecause('backpressure');
      socket.end(REFUSED_RESPONSE);
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      this.liveConnections++;
    }
    return conn;
  }

  connectionOf(socket: Socket | null | undefined): Connection | undefined {
    return socket ? (socket as TrackedSocket)[kConnection] : undefined;
  }

  /** A request head was parsed on a tracked connection. */
  startRequest(conn: Connection, req: IncomingMessage, res: ServerResponse, method: string, path: string, deferred: boolean): RequestRecord {
    const rec = new RequestRecord(conn, req, res, nowMs(), method, path, deferred);
    conn.add(rec);
    if (this.proxies?.trusts(conn.clientAddr)) this.proxies.apply(rec);
    if (deferred) {
      conn.healthRequests++;
      return rec;
    }
    this.announce(rec);
    return rec;
  }

  /**
   * An HTTP upgrade request (WebSocket). It has no ServerResponse of its own:
   * `res` is a detached one that tracing may set headers on (copied into the
   * 101). The connection opens as `websocket` when this is its first request.
   */
  startUpgrade(conn: Connection, req: IncomingMessage, res: ServerResponse, method: string, path: string): RequestRecord {
    if (conn.requestsStarted === 0) conn.protocol = 'websocket';
    const rec = new RequestRecord(conn, req, res, nowMs(), method, path, false);
    conn.add(rec);
    if (this.proxies?.trusts(conn.clientAddr)) this.proxies.apply(rec);
    this.announce(rec);
    return rec;
  }

  /** The upgrade was answered: 101 (the socket now carries WebSocket frames) or a refusal. */
  finishUpgrade(rec: RequestRecord, status: number): void {
    if (rec.ended) return;
    rec.ended = true;
    rec.finishedAt = nowMs();
    rec.status = status;
    rec.completed = true;
    rec.conn.remove(rec);
    rec.conn.requestsServed++;
    this.tell(this.onCompleted, 'responseCompleted', rec);
  }

  /** A request that counts (not a health check): its connection opens if needed, then RequestStarted. */
  private announce(rec: RequestRecord): void {
    rec.conn.requestsStarted++;
    this.beginTrace(rec);
    // Tested here, not in open(): a connection opens once, its other requests skip the call.
    if (!rec.conn.opened) this.open(rec.conn);
    this.tell(this.onStarted, 'requestStarted', rec);
  }

  private open(conn: Connection): void {
    conn.opened = true;
    for (const o of this.observers) {
      if (o.connectionOpened === undefined) continue;
      try {
        o.connectionOpened(conn);
      } catch (err) {
        this.observerFailed(o, 'connectionOpened', err);
      }
    }
  }

  /** The server ends a request itself (pounce's own error answer, a limit): say who and why before it closes. */
  endByServer(rec: RequestRecord, cause: RequestRecord['endCause']): void {
    rec.endedBy ??= 'server';
    rec.endCause ??= cause;
  }

  /** The response finished, or its connection closed first: the request ends (once). */
  endRequest(rec: RequestRecord): void {
    if (rec.ended) return;
    rec.ended = true;
    const conn = rec.conn;
    conn.remove(rec);
    const res = rec.res;
    rec.finishedAt = nowMs();
    // A head that never went out is no status; pounce's own raw answer (408, 400) set one already.
    if (rec.headSent) rec.status = res.statusCode;
    rec.completed = res.writableFinished && !rec.cutShort;
    if (rec.deferred) {
      // A health check passed through to the app is invisible unless it failed
      // (5xx other than the drain 503, which is pounce's own answer).
      if (!(rec.completed && rec.status >= 500)) return;
      conn.healthRequests--;
      this.beginTrace(rec);
      if (!conn.opened) this.open(conn);
      this.tell(this.onStarted, 'requestStarted', rec);
    }
    conn.bytesSent += rec.bytesSent;
    if (rec.completed) {
      conn.requestsServed++;
      this.tell(this.onCompleted, 'responseCompleted', rec);
      return;
    }
    rec.endedBy ??= conn.destroyedBy ?? 'client';
    rec.endCause ??= conn.destroyCause ?? 'client_disconnect';
    if (rec.endedBy === 'client') {
      conn.lastDisconnected = true;
      this.tell(this.onDisconnected, 'clientDisconnected', rec);
    } else {
      if (rec.endedBy === 'app') conn.closeBecause('error');
      this.tell(this.onAborted, 'requestAborted', rec);
    }
  }

  private socketClosed(conn: Connection): void {
    // What is still in flight ends with the connection: the response being
    // written, and pipelined ones still waiting their turn (node:http never
    // tells those of the close). Oldest first, before ConnectionCompleted.
    while (conn.first !== undefined) this.endRequest(conn.first);
    this.connections.delete(conn);
    if (!conn.refused) this.liveConnections--;
    const now = nowMs();
    if (!conn.opened) {
      // Invisible: a connection that only carried health checks, and one the
      // client closed without sending a byte (a TCP probe, a port check).
      if (conn.healthRequests > 0 && conn.reason !== 'error') return;
      if (conn.socket.bytesRead === 0 && (conn.reason === undefined || conn.reason === 'shutdown')) return;
      this.open(conn);
    }
    if (conn.reason === undefined) conn.reason = conn.lastDisconnected ? 'client_disconnect' : 'complete';
    for (const o of this.observers) {
      if (o.connectionCompleted === undefined) continue;
      try {
        o.connectionCompleted(conn, now);
      } catch (err) {
        this.observerFailed(o, 'connectionCompleted', err);
      }
    }
  }

  /**
   * Walks the connections (not a set of requests: keeping one costs every
   * request an insert and a delete) for requests past the threshold.
   */
  private sweep(): void {
    const now = nowMs();
    const startedBefore = now - this.options.slowThresholdMs;
    for (const conn of this.connections) {
      if (conn.inflight === 0) continue;
      for (const rec of conn.inflightRecords()) {
        if (rec.slowReported || rec.deferred || rec.startedAt > startedBefore) continue;
        rec.slowReported = true;
        if (isEventStream(rec.res)) continue;
        for (const o of this.observers) {
          if (o.requestSlow === undefined) continue;
          try {
            o.requestSlow(rec, now);
          } catch (err) {
            this.observerFailed(o, 'requestSlow', err);
          }
        }
      }
    }
  }

  /** Call one request hook on every observer that listens to it; a throwing observer loses only its own output. */
  private tell(calls: readonly HookCall[], hook: RequestHook, rec: RequestRecord): void {
    for (const call of calls) {
      try {
        call.fn.call(call.observer, rec);
      } catch (err) {
        this.observerFailed(call.observer, hook, err);
      }
    }
  }

  /** Start the request's span (sets rec.trace) before any observer hears of it. */
  private beginTrace(rec: RequestRecord): void {
    if (this.tracing === undefined) return;
    try {
      this.tracing.begin(rec);
    } catch (err) {
      this.observerFailed(this.tracing as Observer, 'begin', err);
    }
  }

  private observerFailed(observer: Observer, hook: keyof Observer | 'begin', error: unknown): void {
    if (this.failed.has(observer)) return;
    this.failed.add(observer);
    this.options.onObserverError?.(observer, hook, error);
  }

  /** Connections with a request in flight (for shutdown reports). */
  busyConnections(): Connection[] {
    return [...this.connections].filter((conn) => conn.inflight > 0);
  }

  /** The drain began: every response whose head is not sent yet is its connection's last. */
  lastResponses(): void {
    for (const conn of this.connections) {
      for (const rec of conn.inflightRecords()) if (!rec.res.headersSent) rec.res.shouldKeepAlive = false;
    }
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.stopped) return;
    this.stopped = true;
    if (--liveTrackers === 0) unsubscribe(RESPONSE_FINISH, onResponseFinish);
  }
}

interface HookCall {
  readonly observer: Observer;
  readonly fn: (rec: RequestRecord) => void;
}

/**
 * The observers that have `hook` and listen to it. Found once: a hook looked
 * up by its name per request is a megamorphic keyed load (~150 instructions
 * a request each, valgrind), and a hook that writes nothing at the
 * configured level (RequestStarted below debug) is not called at all.
 */
function callsOf(observers: readonly Observer[], hook: RequestHook): HookCall[] {
  const calls: HookCall[] = [];
  for (const observer of observers) {
    const fn = observer[hook];
    if (fn !== undefined && observer.listens?.(hook) !== false) calls.push({ observer, fn });
  }
  return calls;
}

const EVENT_STREAM_HEADER = /\r\ncontent-type:[ \t]*text\/event-stream/i;

/** Server-sent events are long by design: never slow. */
export function isEventStream(res: ServerResponse): boolean {
  const type = res.getHeader('content-type');
  if (typeof type === 'string') return type.startsWith('text/event-stream');
  // Headers given straight to writeHead() are not kept for getHeader(); the sent head has them.
  const head = (res as unknown as { _header?: string | null })._header;
  return typeof head === 'string' && EVENT_STREAM_HEADER.test(head);
}
