import type { Connection } from './connection.js';
import type { RequestRecord } from './request-record.js';

/**
 * The extension seam of the request pipeline. The lifecycle log, the access
 * log, tracing and metrics are observers. The tracker calls each hook in
 * order; everything a hook needs is on its arguments (times included: the
 * record's startedAt/finishedAt, the connection's acceptedAt, `now`), and a
 * record's trace ids are set before any observer hears of the request, so no
 * observer depends on running before another. Hooks must not block; one that
 * throws loses its own output (said once), never the response.
 */
export interface Observer {
  /** The connection becomes visible (its first logged request, or its close). */
  connectionOpened?(conn: Connection): void;
  /** The request head is parsed. */
  requestStarted?(rec: RequestRecord): void;
  /** Still in flight past the slow threshold; reported once. */
  requestSlow?(rec: RequestRecord, now: number): void;
  /** The response went out whole (every body byte reached the socket). */
  responseCompleted?(rec: RequestRecord): void;
  /** The client closed or reset the connection before the response went out whole. */
  clientDisconnected?(rec: RequestRecord): void;
  /** The server (a timeout, the drain, a protocol error) or the app (an error mid-response) ended the request. */
  requestAborted?(rec: RequestRecord): void;
  connectionCompleted?(conn: Connection, now: number): void;
  /**
   * False when a request hook it has would never do anything (its level is
   * off): the tracker then never calls it. Asked once, when the tracker is
   * made. Absent: every hook it has is called.
   */
  listens?(hook: RequestHook): boolean;
}

/** The hooks called per request (the tracker keeps a list of listeners for each). */
export type RequestHook = 'requestStarted' | 'responseCompleted' | 'clientDisconnected' | 'requestAborted';

/**
 * Tracing's part, which is not an observer: it starts the request's span and
 * sets `rec.trace` before the observers run, and makes the span the active
 * context around the app call.
 */
export interface RequestTracing {
  begin(rec: RequestRecord): void;
  /** `request` (pounce's request context), when given, goes in the span's context: see carries. */
  runApp<T>(rec: RequestRecord, run: () => T, request?: object): T;
  /** The request's context can carry pounce's request context (one AsyncLocalStorage for both). */
  carries(rec: RequestRecord): boolean;
}
