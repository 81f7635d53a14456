import type { Logger } from 'pino';
import { roundMs } from './clock.js';
import { eventTime } from './logger.js';
import type { Observer } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';
import { withTrace } from '../lifecycle/emitter.js';
import { escapeControls } from '../server/path.js';

/**
 * One line per request (logger `pounce.access`, level info), also for a
 * request that ended without a complete response: like nginx, a client that
 * left before the response head gets status 499; such lines carry
 * `complete: false`, `ended_by` (client, server, app) and `cause`. Added as
 * an observer only when that level is enabled (see serve()).
 */
export class AccessLog implements Observer {
  constructor(private readonly logger: Logger) {}

  responseCompleted(rec: RequestRecord): void {
    this.line(rec, rec.status);
  }

  clientDisconnected(rec: RequestRecord): void {
    this.line(rec, rec.res.headersSent ? rec.status : CLIENT_CLOSED_REQUEST);
  }

  requestAborted(rec: RequestRecord): void {
    this.line(rec, rec.status !== 0 ? rec.status : rec.endedBy === 'app' ? 500 : 503);
  }

  private line(rec: RequestRecord, status: number): void {
    const conn = rec.conn;
    const userAgent = rec.req.headers['user-agent'];
    const fields: Record<string, unknown> = {
      connection_id: conn.id,
      client_addr: rec.clientAddr,
      method: rec.method,
      path: rec.path,
      http_version: rec.httpVersion,
      status,
      bytes_sent: rec.bytesSent,
      duration_ms: roundMs(rec.durationMs),
      user_agent: userAgent === undefined ? null : escapeControls(userAgent),
    };
    if (!rec.completed) {
      fields.complete = false;
      fields.ended_by = rec.endedBy;
      fields.cause = rec.endCause;
    }
    eventTime.at = rec.finishedAt;
    this.logger.info(
      withTrace(fields, rec),
      `${rec.clientAddr}:${conn.clientPort} - "${rec.method} ${rec.path.replace(/"/g, '%22')} HTTP/${rec.httpVersion}" ${status}`,
    );
  }
}

/** nginx's status for a request whose client closed the connection before the response. */
const CLIENT_CLOSED_REQUEST = 499;
