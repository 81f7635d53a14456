import type { Logger } from 'pino';
import { roundMs } from './clock.js';
import { repeatSlot, repeatedOn, type EventLine } from './event-line.js';
import { eventLineFor } from './logger.js';
import type { Observer } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';
import { endedFields, traceFields } from '../lifecycle/emitter.js';
import { rawHeader } from '../server/raw-headers.js';

/**
 * One line per request (logger `pounce.access`, level info), also for a
 * request that ended without a complete response: like nginx, a client that
 * left before the response head gets status 499; such lines carry
 * `complete: false`, `ended_by` (client, server, app) and `cause`. Added as
 * an observer only when that level is enabled (see serve()). Built field by
 * field like the lifecycle events (see event-line.ts).
 */
export class AccessLog implements Observer {
  private readonly out: EventLine;

  constructor(logger: Logger) {
    this.out = eventLineFor(logger);
  }

  responseCompleted(rec: RequestRecord): void {
    this.line(rec, rec.status);
  }

  clientDisconnected(rec: RequestRecord): void {
    this.line(rec, rec.headSent ? rec.status : CLIENT_CLOSED_REQUEST);
  }

  requestAborted(rec: RequestRecord): void {
    this.line(rec, rec.status !== 0 ? rec.status : rec.endedBy === 'app' ? 500 : 503);
  }

  private line(rec: RequestRecord, status: number): void {
    const conn = rec.conn;
    const line = this.out;
    const clientAddr = rec.clientAddr;
    const method = rec.method;
    const path = rec.path;
    const httpVersion = rec.httpVersion;
    line.beginRequestLine('info', rec.finishedAt, repeatedOn(conn, MESSAGE), clientAddr, conn.clientPort, method, path, httpVersion, status);
    const fields = repeatedOn(conn, FIELDS);
    if (!line.repeat(fields, clientAddr, method, path, httpVersion, status)) {
      line.int('connection_id', conn.id);
      line.word('client_addr', clientAddr);
      line.word('method', method);
      line.str('path', path);
      line.word('http_version', httpVersion);
      line.int('status', status);
      line.endRepeat(fields);
    }
    line.int('bytes_sent', rec.bytesSent);
    line.ms('duration_ms', roundMs(rec.durationMs));
    line.clientTextOrNull('user_agent', rawHeader(rec.req, 'user-agent'));
    if (!rec.completed) {
      line.bool('complete', false);
      endedFields(line, rec);
    }
    traceFields(line, rec);
    line.end();
  }
}

// A connection's requests mostly repeat the message and the first fields: each is rendered once per distinct request (see EventLine.repeat).
const MESSAGE = repeatSlot();
const FIELDS = repeatSlot();

/** nginx's status for a request whose client closed the connection before the response. */
const CLIENT_CLOSED_REQUEST = 499;
