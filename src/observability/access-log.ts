import type { Logger } from 'pino';
import { roundMs } from './clock.js';
import type { EventLine } from './event-line.js';
import { eventLineFor } from './logger.js';
import type { Observer } from '../server/observer.js';
import type { RequestRecord } from '../server/request-record.js';
import { bodyBytes, traceFields } from '../lifecycle/emitter.js';

/**
 * One line per completed request (logger `pounce.access`, level info). Added
 * as an observer only when that level is enabled (see serve()). Built field
 * by field like the lifecycle events (see event-line.ts).
 */
export class AccessLog implements Observer {
  private readonly line: EventLine;

  constructor(logger: Logger) {
    this.line = eventLineFor(logger);
  }

  responseCompleted(rec: RequestRecord): void {
    const conn = rec.conn;
    const line = this.line;
    // The message: `127.0.0.1:51660 - "GET /a HTTP/1.1" 200`.
    line.beginQuoted('info', rec.finishedAt, conn.clientAddr + ':' + conn.clientPort + ' - ', rec.method + ' ' + rec.path + ' HTTP/' + rec.httpVersion, ' ' + rec.status);
    line.int('connection_id', conn.id);
    line.str('client_addr', conn.clientAddr);
    line.word('method', rec.method);
    line.str('path', rec.path);
    line.word('http_version', rec.httpVersion);
    line.int('status', rec.status);
    line.int('bytes_sent', bodyBytes(rec));
    line.ms('duration_ms', roundMs(rec.durationMs));
    line.strOrNull('user_agent', rec.req.headers['user-agent']);
    traceFields(line, rec);
    line.end();
  }
}
