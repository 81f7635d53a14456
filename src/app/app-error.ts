import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { currentRequest } from './context.js';

/**
 * The app threw or rejected. The client gets a bare 500 (no stack, no
 * message); the log gets the error with its stack, bound to the request ids.
 * If the response had already started, the connection is cut: a truncated
 * body must not look complete.
 */
export function handleAppError(err: unknown, res: ServerResponse, appLogger: Logger): void {
  const log = currentRequest()?.log ?? appLogger;
  log.error({ err }, 'Unhandled error in app');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.writableEnded) return;
  const body = 'Internal Server Error\n';
  // Drop whatever the app set: its headers described a response that never happened.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
