import type { Connection } from './connection.js';
import type { RequestRecord } from './request-record.js';

/**
 * The extension seam of the request pipeline. The lifecycle log, the access
 * log and tracing are observers; the tracker calls each hook in order, with
 * the instant it already read. Hooks must not throw and must not block.
 */
export interface Observer {
  /** The connection becomes visible (its first logged request, or its close). */
  connectionOpened?(conn: Connection): void;
  /** The request head is parsed. Tracing runs first and sets the record's trace ids. */
  requestStarted?(rec: RequestRecord): void;
  /** Wrap the app call (tracing makes its span the active context here). */
  runApp?<T>(rec: RequestRecord, run: () => T): T;
  /** Still in flight past the slow threshold; reported once. */
  requestSlow?(rec: RequestRecord, now: number): void;
  /** The response was fully handed to the socket. */
  responseCompleted?(rec: RequestRecord): void;
  /** The connection closed before the response was complete. */
  clientDisconnected?(rec: RequestRecord): void;
  connectionCompleted?(conn: Connection, now: number): void;
}
