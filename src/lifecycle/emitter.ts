import type { Logger } from 'pino';
import { roundMs } from '../observability/clock.js';
import { repeatSlot, repeatedOn, type EventLine } from '../observability/event-line.js';
import { eventLineFor } from '../observability/logger.js';
import type { Connection } from '../server/connection.js';
import type { Observer, RequestHook } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';
import { isEventStream } from '../server/tracker.js';
import { EVENT_MESSAGES } from './events.js';

/**
 * Writes the lifecycle events (logger `pounce.lifecycle`) as the tracker
 * reports them. The fields of each event are fixed (the published schema):
 * each line is built field by field, in the logger's format (JSON or text),
 * with no field object and no generic serialiser (see event-line.ts). Levels
 * that are off cost a boolean test.
 */
export class LifecycleEmitter implements Observer {
  private readonly line: EventLine;
  private readonly debug: boolean;
  private readonly info: boolean;
  private readonly warn: boolean;

  constructor(
    lifecycle: Logger,
    private readonly thresholdMs: number,
  ) {
    this.line = eventLineFor(lifecycle);
    this.debug = lifecycle.isLevelEnabled('debug');
    this.info = lifecycle.isLevelEnabled('info');
    this.warn = lifecycle.isLevelEnabled('warn');
  }

  listens(hook: RequestHook): boolean {
    switch (hook) {
      case 'requestStarted':
        return this.debug;
      case 'responseCompleted':
        // Below debug, a slow response is still reported (at info).
        return this.info;
      default:
        return this.warn;
    }
  }

  connectionOpened(conn: Connection): void {
    if (!this.debug) return;
    const line = this.line;
    line.begin('debug', conn.acceptedAt, EVENT_MESSAGES.ConnectionOpened);
    line.word('event', 'ConnectionOpened');
    line.int('connection_id', conn.id);
    line.str('client_addr', conn.clientAddr);
    line.int('client_port', conn.clientPort);
    line.word('server_addr', conn.serverAddr);
    line.int('server_port', conn.serverPort);
    line.word('protocol', conn.protocol);
    line.end();
  }

  requestStarted(rec: RequestRecord): void {
    if (!this.debug) return;
    const line = this.line;
    line.begin('debug', rec.startedAt, EVENT_MESSAGES.RequestStarted);
    const fields = repeatedOn(rec.conn, REQUEST_STARTED);
    if (!line.repeat(fields, rec.method, rec.path, rec.httpVersion)) {
      line.word('event', 'RequestStarted');
      line.int('connection_id', rec.conn.id);
      line.word('method', rec.method);
      line.str('path', rec.path);
      line.word('http_version', rec.httpVersion);
      line.endRepeat(fields);
    }
    traceFields(line, rec);
    line.end();
  }

  requestSlow(rec: RequestRecord, now: number): void {
    if (!this.info) return;
    const line = this.line;
    line.begin('info', now, EVENT_MESSAGES.RequestSlow);
    line.word('event', 'RequestSlow');
    line.int('connection_id', rec.conn.id);
    line.word('method', rec.method);
    line.str('path', rec.path);
    line.ms('elapsed_ms', roundMs(now - rec.startedAt));
    line.ms('threshold_ms', this.thresholdMs);
    traceFields(line, rec);
    line.end();
  }

  responseCompleted(rec: RequestRecord): void {
    const duration = rec.durationMs;
    const slow = duration >= this.thresholdMs && !isEventStream(rec.res);
    if (slow ? !this.info : !this.debug) return;
    const line = this.line;
    line.begin(slow ? 'info' : 'debug', rec.finishedAt, EVENT_MESSAGES.ResponseCompleted);
    const fields = repeatedOn(rec.conn, RESPONSE_COMPLETED);
    if (!line.repeat(fields, rec.method, rec.path, rec.status)) {
      line.word('event', 'ResponseCompleted');
      line.int('connection_id', rec.conn.id);
      line.word('method', rec.method);
      line.str('path', rec.path);
      line.int('status', rec.status);
      line.endRepeat(fields);
    }
    line.int('bytes_sent', rec.bytesSent);
    line.ms('duration_ms', roundMs(duration));
    if (slow) line.bool('slow', true);
    traceFields(line, rec);
    line.end();
  }

  clientDisconnected(rec: RequestRecord): void {
    if (!this.warn) return;
    const line = this.line;
    line.begin('warn', rec.finishedAt, EVENT_MESSAGES.ClientDisconnected);
    line.word('event', 'ClientDisconnected');
    line.int('connection_id', rec.conn.id);
    line.bool('during_streaming', rec.headSent);
    line.str('client_addr', rec.clientAddr);
    line.word('method', rec.method);
    line.str('path', rec.path);
    line.int('bytes_sent', rec.bytesSent);
    line.ms('duration_ms', roundMs(rec.durationMs));
    traceFields(line, rec);
    line.end();
  }

  /** The server or the app ended the request without a complete response: warn, so it shows at info. */
  requestAborted(rec: RequestRecord): void {
    if (!this.warn) return;
    const line = this.line;
    line.begin('warn', rec.finishedAt, EVENT_MESSAGES.RequestAborted);
    line.word('event', 'RequestAborted');
    line.int('connection_id', rec.conn.id);
    endedFields(line, rec);
    line.bool('during_streaming', rec.headSent);
    line.str('client_addr', rec.clientAddr);
    line.word('method', rec.method);
    line.str('path', rec.path);
    if (rec.status !== 0) line.int('status', rec.status);
    line.int('bytes_sent', rec.bytesSent);
    line.ms('duration_ms', roundMs(rec.durationMs));
    traceFields(line, rec);
    line.end();
  }

  connectionCompleted(conn: Connection, now: number): void {
    const loud = conn.reason === 'error' || conn.reason === 'backpressure';
    if (loud ? !this.warn : !this.debug) return;
    const line = this.line;
    line.begin(loud ? 'warn' : 'debug', now, EVENT_MESSAGES.ConnectionCompleted);
    line.word('event', 'ConnectionCompleted');
    line.int('connection_id', conn.id);
    line.int('requests_served', conn.requestsServed);
    line.int('total_bytes_sent', conn.bytesSent);
    line.ms('duration_ms', roundMs(now - conn.acceptedAt));
    line.word('reason', conn.reason ?? 'complete'); // always set by the tracker before this call
    line.str('client_addr', conn.clientAddr);
    line.end();
  }
}

// The fields a connection's requests repeat, rendered once per distinct request (see EventLine.repeat).
const REQUEST_STARTED = repeatSlot();
const RESPONSE_COMPLETED = repeatSlot();

/** Who ended a request that did not complete, and why (enums: no escaping needed). */
export function endedFields(line: EventLine, rec: RequestRecord): void {
  if (rec.endedBy !== undefined) line.word('ended_by', rec.endedBy);
  if (rec.endCause !== undefined) line.word('cause', rec.endCause);
}

/** Events inside a traced request carry its server span's ids (lower-case hex: no escaping needed). */
export function traceFields(line: EventLine, rec: RequestRecord): void {
  const trace = rec.trace;
  if (trace !== undefined) {
    line.word('trace_id', trace.traceId);
    line.word('span_id', trace.spanId);
    line.word('trace_flags', trace.traceFlags);
  }
}
