import type { IncomingMessage, ServerResponse } from 'node:http';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;
export type FetchFunction = (request: Request, env?: unknown, ctx?: unknown) => Response | Promise<Response>;
export interface FetchApp {
  fetch: FetchFunction;
}

/** WebSocket handlers an app may export (served on the `ws` package). */
export type AppInterface = 'fetch' | 'node';

/** An app, loaded and classified, ready to be served. */
export interface LoadedApp {
  interface: AppInterface;
  /** The app in node:http shape (fetch apps are adapted). */
  handler: NodeHandler;
  startup?: () => unknown;
  shutdown?: () => unknown;
  /** What was loaded, for the startup line (e.g. `./app.js:default`). */
  description: string;
}

/** Anything `serve()` accepts as an app. */
export type AppInput = NodeHandler | FetchFunction | FetchApp | { default: unknown };
