import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocketRegistry } from './websocket.js';

export interface HealthState {
  draining: boolean;
  readonly workerId: number;
  readonly startedAt: number;
  openConnections(): number;
  /** Open WebSockets, closed with 1001 when the listener closes. */
  websockets?: WebSocketRegistry;
}

/**
 * pounce's own health endpoint: GET/HEAD answer 200 `{"status":"ok",...}`,
 * or 503 `{"status":"draining"}` once shutdown has begun, so that readiness
 * probes take the pod out of rotation while in-flight work finishes.
 */
export function respondHealth(req: IncomingMessage, res: ServerResponse, state: HealthState): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
    return;
  }
  const status = state.draining ? 503 : 200;
  const body = JSON.stringify(
    state.draining
      ? { status: 'draining', worker_id: state.workerId }
      : {
          status: 'ok',
          worker_id: state.workerId,
          uptime_s: Math.round((Date.now() - state.startedAt) / 100) / 10,
          connections: state.openConnections(),
        },
  );
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  };
  if (state.draining) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
