/**
 * The matched route template of a request (`/users/:id`), found without app
 * code where the framework leaves it somewhere pounce can see:
 *
 * - the app said so: `currentRequest().setRoute('/users/:id')` (always wins);
 * - Express (4 and 5): `req.route.path` under `req.baseUrl`, on the node
 *   request itself, still there when the response ends;
 * - Fastify (4.31+/5): its `tracing:fastify.request.handler` diagnostics
 *   channel names `routeOptions.url`; pounce listens (only while tracing) and
 *   notes it on the raw request;
 * - an OpenTelemetry instrumentation (express, koa, fastify, ...) that reports
 *   the route through the context's RPC metadata (`rpcMetadata.route`).
 *
 * Not detectable from outside: Koa with @koa/router (`ctx._matchedRoute` is on
 * Koa's context, never on the node request) and Hono (`routePath(c)` is on its
 * own context, never on the fetch Request). Those apps call setRoute from a
 * middleware (see the README).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';

const kFastifyRoute = Symbol('pounce.fastifyRoute');

type RoutedRequest = IncomingMessage & {
  route?: { path?: unknown };
  baseUrl?: unknown;
  [kFastifyRoute]?: string;
};

/** The route of a finished (or finishing) request, if anything knows it. */
export function detectRoute(req: IncomingMessage, reported: string | undefined): string | undefined {
  if (reported !== undefined) return reported;
  const r = req as RoutedRequest;
  const fastify = r[kFastifyRoute];
  if (fastify !== undefined) return fastify;
  const path = r.route?.path;
  if (typeof path === 'string') {
    const base = typeof r.baseUrl === 'string' ? r.baseUrl : '';
    return base + path || '/';
  }
  return undefined;
}

const FASTIFY_HANDLER_START = 'tracing:fastify.request.handler:start';

interface FastifyHandlerStore {
  request?: { raw?: IncomingMessage };
  route?: { url?: unknown };
}

function onFastifyHandler(message: unknown): void {
  const store = message as FastifyHandlerStore;
  const raw = store.request?.raw as RoutedRequest | undefined;
  const url = store.route?.url;
  if (raw && typeof url === 'string') raw[kFastifyRoute] = url;
}

/** Listen to the frameworks' diagnostics channels; returns the undo. */
export function watchFrameworkRoutes(): () => void {
  subscribe(FASTIFY_HANDLER_START, onFastifyHandler);
  return () => unsubscribe(FASTIFY_HANDLER_START, onFastifyHandler);
}
