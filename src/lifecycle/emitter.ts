import type { Logger } from 'pino';
import { roundMs } from '../observability/clock.js';
import { eventTime } from '../observability/logger.js';
import type { Connection } from '../server/connection.js';
import type { Observer } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';
import { isEventStream } from '../server/tracker.js';
import { EVENT_MESSAGES, type LifecycleEvent } from './events.js';

type Fields = Record<string, unknown>;

/**
 * Writes the lifecycle events (logger `pounce.lifecycle`) as the tracker
 * reports them. Each event has its own child logger with its name bound once,
 * so a call serialises only the fields that change. Levels that are off cost
 * a boolean test.
 */
export class LifecycleEmitter implements Observer {
  private readonly loggers: Record<LifecycleEvent, Logger>;
  private readonly debug: boolean;
  private readonly info: boolean;
  private readonly warn: boolean;

  constructor(
    lifecycle: Logger,
    private readonly thresholdMs: number,
  ) {
    this.loggers = Object.fromEntries(
      Object.keys(EVENT_MESSAGES).map((event) => [event, lifecycle.child({ event })]),
    ) as Record<LifecycleEvent, Logger>;
    this.debug = lifecycle.isLevelEnabled('debug');
    this.info = lifecycle.isLevelEnabled('info');
    this.warn = lifecycle.isLevelEnabled('warn');
  }

  connectionOpened(conn: Connection): void {
    if (!this.debug) return;
    eventTime.at = conn.acceptedAt;
    this.loggers.ConnectionOpened.debug(
      {
        connection_id: conn.id,
        client_addr: conn.clientAddr,
        client_port: conn.clientPort,
        server_addr: conn.serverAddr,
        server_port: conn.serverPort,
        protocol: conn.protocol,
      },
      EVENT_MESSAGES.ConnectionOpened,
    );
  }

  requestStarted(rec: RequestRecord): void {
    if (!this.debug) return;
    const fields: Fields = {
      connection_id: rec.conn.id,
      method: rec.method,
      path: rec.path,
      http_version: rec.httpVersion,
    };
    eventTime.at = rec.startedAt;
    this.loggers.RequestStarted.debug(withTrace(fields, rec), EVENT_MESSAGES.RequestStarted);
  }

  requestSlow(rec: RequestRecord, now: number): void {
    if (!this.info) return;
    const fields: Fields = {
      connection_id: rec.conn.id,
      method: rec.method,
      path: rec.path,
      elapsed_ms: roundMs(now - rec.startedAt),
      threshold_ms: this.thresholdMs,
    };
    eventTime.at = now;
    this.loggers.RequestSlow.info(withTrace(fields, rec), EVENT_MESSAGES.RequestSlow);
  }

  responseCompleted(rec: RequestRecord): void {
    const duration = rec.durationMs;
    const slow = duration >= this.thresholdMs && !isEventStream(rec.res);
    if (slow ? !this.info : !this.debug) return;
    const fields: Fields = {
      connection_id: rec.conn.id,
      method: rec.method,
      path: rec.path,
      status: rec.status,
      bytes_sent: rec.bytesSent,
      duration_ms: roundMs(duration),
    };
    if (slow) fields.slow = true;
    eventTime.at = rec.finishedAt;
    const logger = this.loggers.ResponseCompleted;
    if (slow) logger.info(withTrace(fields, rec), EVENT_MESSAGES.ResponseCompleted);
    else logger.debug(withTrace(fields, rec), EVENT_MESSAGES.ResponseCompleted);
  }

  clientDisconnected(rec: RequestRecord): void {
    if (!this.warn) return;
    const fields: Fields = {
      connection_id: rec.conn.id,
      during_streaming: rec.res.headersSent,
      client_addr: rec.clientAddr,
      method: rec.method,
      path: rec.path,
      bytes_sent: rec.bytesSent,
      duration_ms: roundMs(rec.durationMs),
    };
    eventTime.at = rec.finishedAt;
    this.loggers.ClientDisconnected.warn(withTrace(fields, rec), EVENT_MESSAGES.ClientDisconnected);
  }

  /** The server or the app ended the request without a complete response: warn, so it shows at info. */
  requestAborted(rec: RequestRecord): void {
    if (!this.warn) return;
    const fields: Fields = {
      connection_id: rec.conn.id,
      ended_by: rec.endedBy,
      cause: rec.endCause,
      during_streaming: rec.res.headersSent,
      client_addr: rec.clientAddr,
      method: rec.method,
      path: rec.path,
    };
    if (rec.status !== 0) fields.status = rec.status;
    fields.bytes_sent = rec.bytesSent;
    fields.duration_ms = roundMs(rec.durationMs);
    eventTime.at = rec.finishedAt;
    this.loggers.RequestAborted.warn(withTrace(fields, rec), EVENT_MESSAGES.RequestAborted);
  }

  connectionCompleted(conn: Connection, now: number): void {
    const loud = conn.reason === 'error' || conn.reason === 'backpressure';
    if (loud ? !this.warn : !this.debug) return;
    const fields: Fields = {
      connection_id: conn.id,
      requests_served: conn.requestsServed,
      total_bytes_sent: conn.bytesSent,
      duration_ms: roundMs(now - conn.acceptedAt),
      reason: conn.reason,
      client_addr: conn.clientAddr,
    };
    eventTime.at = now;
    const logger = this.loggers.ConnectionCompleted;
    if (loud) logger.warn(fields, EVENT_MESSAGES.ConnectionCompleted);
    else logger.debug(fields, EVENT_MESSAGES.ConnectionCompleted);
  }
}

/** Events inside a traced request carry pounce's own span ids. */
export function withTrace(fields: Fields, rec: RequestRecord): Fields {
  const trace = rec.trace;
  if (trace !== undefined) {
    fields.trace_id = trace.traceId;
    fields.span_id = trace.spanId;
    fields.trace_flags = trace.traceFlags;
  }
  return fields;
}
