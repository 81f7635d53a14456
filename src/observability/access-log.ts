import type { Logger } from 'pino';
import { roundMs } from './clock.js';
import { eventTime } from './logger.js';
import type { Observer } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';
import { bodyBytes, withTrace } from '../lifecycle/emitter.js';

/**
 * One line per completed request (logger `pounce.access`, level info). Added
 * as an observer only when that level is enabled (see serve()).
 */
export class AccessLog implements Observer {
  constructor(private readonly logger: Logger) {}

  responseCompleted(rec: RequestRecord): void {
    const conn = rec.conn;
    const userAgent = rec.req.headers['user-agent'];
    const fields: Record<string, unknown> = {
      connection_id: conn.id,
      client_addr: conn.clientAddr,
      method: rec.method,
      path: rec.path,
      http_version: rec.httpVersion,
      status: rec.status,
      bytes_sent: bodyBytes(rec),
      duration_ms: roundMs(rec.durationMs),
      user_agent: userAgent ?? null,
    };
    eventTime.at = rec.finishedAt;
    this.logger.info(
      withTrace(fields, rec),
      `${conn.clientAddr}:${conn.clientPort} - "${rec.method} ${rec.path} HTTP/${rec.httpVersion}" ${rec.status}`,
    );
  }
}
