import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { keepTimersOutOfRequests, runInRequestContext, runTracedRequest, serveInRequestContext } from '../app/context.js';
import type { LoadedApp } from '../app/types.js';
import type { ServerConfig } from '../config/server-config.js';
import { hasUnsizedBody, limitBody } from './body-limit.js';
import { rawHeader } from './raw-headers.js';
import { respondHealth, type HealthState } from './health.js';
import { loggablePath, pathOf } from './path.js';
import type { Connection } from './connection.js';
import type { Tracker } from './tracker.js';

export interface Http1Options {
  config: ServerConfig;
  app: LoadedApp;
  /** Present when anything observes requests (logs, tracing, limits). */
  tracker: Tracker | undefined;
  health: HealthState;
  appLogger: Logger;
  workerId: number;
  /** Answers scrapes on metricsPath (like health, never logged or traced). */
  metrics?: MetricsEndpoint;
}

export interface MetricsEndpoint {
  respond(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'HPE_INVALID_EOF_STATE']);

/** Status lines pounce writes itself on a socket whose request could not be parsed. */
const CLIENT_ERROR_STATUS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/**
 * The HTTP/1.1 front: node:http with pounce's limits, timeouts, health
 * endpoint and tracking wired in. With nothing observing and no limits, the
 * request path is node:http plus one string compare.
 */
export function createHttp1Server(options: Http1Options): Server {
  const { config, app, tracker, health, appLogger, workerId, metrics } = options;
  const healthPath = config.healthCheckPath;
  const passthrough = config.healthCheckPassthrough;
  const metricsPath = config.metricsPath;
  const maxRequests = config.maxRequestsPerConnection;
  const maxBody = config.maxBodySize;
  const handler = app.handler;

  /** Where each request's 413 goes: the response node:http made for it. */
  const responses = new WeakMap<IncomingMessage, ServerResponse>();
  const onBodyTooLarge = (req: IncomingMessage) => {
    const res = responses.get(req);
    if (!res) return;
    const conn = tracker?.connectionOf(req.socket);
    if (conn) {
      conn.closeBecause('error');
      const rec = conn.find(req);
      if (rec) tracker!.endByServer(rec, 'body_too_large');
    }
    refuse(res, 413, 'Payload Too Large');
    // node:http would wait for the rest of the body before closing; the sender
    // may never stop. Half-close after the 413, then cut after a short linger.
    const socket = req.socket;
    res.once('finish', () => {
      socket.end();
      setTimeout(() => socket.destroy(), 500).unref();
    });
  };

  const server = createServer(
    {
      // Checked below, so that the 400 is logged like any other answer.
      requireHostHeader: false,
      maxHeaderSize: config.maxHeaderSize,
      keepAliveTimeout: config.keepAliveTimeout * 1000,
      headersTimeout: config.headerTimeout * 1000,
      requestTimeout: config.requestTimeout * 1000,
      // node:http checks header/request deadlines on this period (30 s by default): keep it
      // fine enough that a 10 s header timeout fires at 10 s, not at 40 s.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, (config.headerTimeout * 1000) / 4)),
    },
    (req, res) => {
      const rawPath = pathOf(req.url ?? '/');
      if (rawPath === metricsPath && metrics) {
        if (tracker) tracker.connectionOf(req.socket)!.healthRequests++;
        void metrics.respond(req, res);
        return;
      }
      if (rawPath === healthPath) {
        if (passthrough && tracker && !health.draining) {
          const conn = tracker.connectionOf(req.socket)!;
          const rec = tracker.startRequest(conn, req, res, req.method ?? 'GET', rawPath, true);
          runInRequestContext(rec, workerId, appLogger, () => handler(req, res));
          return;
        }
        if (tracker) tracker.connectionOf(req.socket)!.healthRequests++;
        if (passthrough && !health.draining) handler(req, res);
        else respondHealth(req, res, health);
        return;
      }
      const conn = tracker?.connectionOf(req.socket);
      if (conn?.refused) return; // answered 503 at accept
      if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && rawHeader(req, 'host') === undefined) {
        // RFC 9112 3.2: a 1.1 request without Host is a 400.
        if (tracker) startTracked(tracker, conn!, req, res, rawPath).conn.closeBecause('error');
        refuse(res, 400, 'Bad Request: missing Host header');
        return;
      }
      if (maxBody > 0) {
        const length = rawHeader(req, 'content-length');
        if (length !== undefined && Number(length) > maxBody) {
          if (tracker) startTracked(tracker, conn!, req, res, rawPath).conn.closeBecause('error');
          refuse(res, 413, 'Payload Too Large');
          return;
        }
        if (hasUnsizedBody(req, length)) {
          responses.set(req, res);
          limitBody(req, maxBody, onBodyTooLarge);
        }
      }
      // Draining: this response is the connection's last (Connection: close, then closed).
      if (health.draining) res.shouldKeepAlive = false;
      if (!tracker) {
        handler(req, res);
        return;
      }
      const rec = startTracked(tracker, conn!, req, res, rawPath);
      // node's own maxRequestsPerSocket sends Connection: close but then leaves the
      // socket open until the keep-alive timeout; ending the response this way closes it.
      if (maxRequests > 0 && rec.conn.requestsStarted >= maxRequests) res.shouldKeepAlive = false;
      if (tracker.tracing) runTracedRequest(rec, workerId, appLogger, tracker.tracing, () => handler(req, res));
      else serveInRequestContext(rec, workerId, appLogger, handler, req, res);
    },
  );

  if (tracker) {
    server.on('connection', (socket: Socket) => {
      tracker.accept(socket);
      keepTimersOutOfRequests(socket);
    });
    // node:http calls this when a keep-alive connection has been idle for keepAliveTimeout.
    server.on('timeout', (socket: Socket) => {
      tracker.connectionOf(socket)?.closeBecause('timeout');
      socket.destroy();
    });
  }

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const conn = tracker?.connectionOf(socket);
    const code = err.code ?? '';
    // The client went away mid-request (reset, or closed its side halfway through
    // a head): nothing to answer, and no protocol error to report.
    if (CLIENT_GONE.has(code) || !socket.writable) {
      if (conn && socket.bytesRead > 0 && code === 'HPE_INVALID_EOF_STATE') conn.closeBecause('client_disconnect');
      socket.destroy();
      return;
    }
    conn?.closeBecause(code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'timeout' : 'error');
    const status = CLIENT_ERROR_STATUS[code] ?? '400 Bad Request';
    // A response already on its way (head sent) owns the socket: an answer now
    // would land after it or inside its body, where a proxy reusing the
    // connection could hand it to someone else. Cut the connection instead.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const rec = conn?.first;
    if (inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    // The request the app is serving (its body broke off, or it ran out of time) gets this answer.
    if (rec !== undefined) rec.status = Number(status.slice(0, 3));
    const body = status.slice(4) + '\n';
    socket.end(
      `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    // A peer that never reads would keep the socket open: cut it after a grace period.
    setTimeout(() => socket.destroy(), 1000).unref();
  });

  return server;
}

function startTracked(tracker: Tracker, conn: Connection, req: IncomingMessage, res: ServerResponse, rawPath: string) {
  return tracker.startRequest(conn, req, res, req.method ?? 'GET', loggablePath(rawPath), false);
}

/** Answer with a plain-text error and close the connection after it. */
function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = message + '\n';
  res.setHeader('connection', 'close');
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.writeHead(status);
  res.end(body);
}
