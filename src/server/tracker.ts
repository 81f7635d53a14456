import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowMs } from '../observability/clock.js';
import { Connection } from './connection.js';
import { RequestRecord } from './request-record.js';
import type { CountingResponse } from './counting-response.js';
import type { Observer } from './observer.js';

export interface TrackerOptions {
  /** First connection id and the step between ids: worker k of N hands out k, k+N, k+2N... */
  idStart: number;
  idStride: number;
  /** 0 = no limit. */
  maxConnections: number;
  observers: readonly Observer[];
  /** Requests in flight this long are reported slow; 0 = no watch. */
  slowThresholdMs: number;
}

const kConnection = Symbol('pounce.connection');

type TrackedSocket = Socket & { [kConnection]?: Connection };

/**
 * Follows every connection and request and tells the observers what happens,
 * in order: opened, then per request started → (slow) → completed or
 * disconnected, then completed. It owns the one periodic sweep that finds
 * requests still in flight past the slow threshold.
 */
export class Tracker {
  readonly connections = new Set<Connection>();
  private nextId: number;
  private readonly stride: number;
  private liveConnections = 0;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private readonly observers: readonly Observer[];
  private readonly appWrappers: Observer[];
  /** True when an observer wraps the app call (tracing): runApp() then must be used. */
  readonly wrapsApp: boolean;
  /**
   * One 'close' listener shared by every response (`this` is the response):
   * no closure per request. The record rides on the response.
   */
  private readonly onResponseClose: (this: CountingResponse) => void;

  constructor(private readonly options: TrackerOptions) {
    this.nextId = options.idStart;
    this.stride = options.idStride;
    this.observers = options.observers;
    this.appWrappers = options.observers.filter((o) => o.runApp);
    this.wrapsApp = this.appWrappers.length > 0;
    const tracker = this;
    this.onResponseClose = function onResponseClose(this: CountingResponse) {
      const rec = this.record;
      if (rec === undefined) return;
      this.record = undefined;
      tracker.responseClosed(rec);
    };
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
    const conn = new Connection(this.nextId, nowMs(), socket);
    this.nextId += this.stride;
    if (this.options.maxConnections > 0 && this.liveConnections >= this.options.maxConnections) {
      conn.refused = true;
      conn.closeBecause('backpressure');
    } else {
      this.liveConnections++;
    }
    (socket as TrackedSocket)[kConnection] = conn;
    this.connections.add(conn);
    socket.once('close', () => {
      // node:http tells the response about the close in a 'close' listener added
      // after ours: let it run first, so ClientDisconnected precedes ConnectionCompleted.
      if (conn.inflight > 0) process.nextTick(() => this.socketClosed(conn));
      else this.socketClosed(conn);
    });
    return conn;
  }

  connectionOf(socket: Socket): Connection | undefined {
    return (socket as TrackedSocket)[kConnection];
  }

  /** A request head was parsed on a tracked connection. */
  startRequest(conn: Connection, req: IncomingMessage, res: ServerResponse, method: string, path: string, deferred: boolean): RequestRecord {
    const rec = new RequestRecord(conn, req, res, nowMs(), method, path, deferred);
    conn.inflight++;
    // Tracked servers create CountingResponses (see http1.ts).
    (res as CountingResponse).record = rec;
    // node:http emits 'close' once per response: after 'finish', or when the socket dies first.
    res.on('close', this.onResponseClose);
    if (deferred) {
      conn.healthRequests++;
      return rec;
    }
    this.announce(rec);
    if (this.sweepTimer) conn.watch(rec);
    return rec;
  }

  /**
   * An HTTP upgrade request (WebSocket). It has no ServerResponse of its own:
   * `res` is a detached one that observers may set headers on (copied into
   * the 101). The connection opens as `websocket` when this is its first request.
   */
  startUpgrade(conn: Connection, req: IncomingMessage, res: ServerResponse, method: string, path: string): RequestRecord {
    if (conn.requestsStarted === 0) conn.protocol = 'websocket';
    const rec = new RequestRecord(conn, req, res, nowMs(), method, path, false);
    conn.inflight++;
    this.announce(rec);
    return rec;
  }

  /** The upgrade was answered: 101 (the socket now carries WebSocket frames) or a refusal. */
  finishUpgrade(rec: RequestRecord, status: number): void {
    rec.finishedAt = nowMs();
    rec.status = status;
    rec.conn.inflight--;
    rec.conn.requestsServed++;
    for (const o of this.observers) o.responseCompleted?.(rec);
  }

  /** Call the app with every observer's wrapping (tracing context) around it. */
  runApp<T>(rec: RequestRecord, run: () => T): T {
    let wrapped = run;
    for (const o of this.appWrappers) {
      const inner = wrapped;
      wrapped = () => o.runApp!(rec, inner);
    }
    return wrapped();
  }

  /** A request that counts (not a health check): its connection opens if needed, then RequestStarted. */
  private announce(rec: RequestRecord): void {
    rec.conn.requestsStarted++;
    this.open(rec.conn);
    for (const o of this.observers) o.requestStarted?.(rec);
  }

  private open(conn: Connection): void {
    if (conn.opened) return;
    conn.opened = true;
    for (const o of this.observers) o.connectionOpened?.(conn);
  }

  responseClosed(rec: RequestRecord): void {
    const conn = rec.conn;
    const res = rec.res;
    rec.finishedAt = nowMs();
    rec.status = res.statusCode;
    conn.inflight--;
    if (this.sweepTimer) conn.unwatch(rec);
    const bytes = (res as CountingResponse).bodyBytes ?? 0;
    if (rec.deferred) {
      // A health check passed through to the app is invisible unless it failed
      // (5xx other than the drain 503, which is pounce's own answer).
      if (!(res.writableFinished && rec.status >= 500)) return;
      conn.healthRequests--;
      this.open(conn);
      for (const o of this.observers) o.requestStarted?.(rec);
    }
    if (res.writableFinished) {
      conn.requestsServed++;
      conn.bytesSent += bytes;
      for (const o of this.observers) o.responseCompleted?.(rec);
    } else {
      conn.lastDisconnected = true;
      for (const o of this.observers) o.clientDisconnected?.(rec);
    }
  }

  private socketClosed(conn: Connection): void {
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
    if (conn.reason === undefined) conn.reason = conn.inflight > 0 || conn.lastDisconnected ? 'client_disconnect' : 'complete';
    for (const o of this.observers) o.connectionCompleted?.(conn, now);
  }

  /**
   * Walks the connections (not a set of requests: keeping one costs every
   * request an insert and a delete) for watched requests past the threshold.
   */
  private sweep(): void {
    const now = nowMs();
    const threshold = this.options.slowThresholdMs;
    for (const conn of this.connections) {
      if (conn.inflight === 0) continue;
      for (const rec of conn.overdue(now - threshold)) {
        conn.unwatch(rec);
        if (isEventStream(rec.res)) continue;
        for (const o of this.observers) o.requestSlow?.(rec, now);
      }
    }
  }

  /** Connections with a request in flight (for shutdown reports). */
  busyConnections(): Connection[] {
    return [...this.connections].filter((conn) => conn.inflight > 0);
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }
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
