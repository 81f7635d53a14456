import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;
export type FetchFunction = (request: Request, env?: unknown, ctx?: unknown) => Response | Promise<Response>;
export interface FetchApp {
  fetch: FetchFunction;
}

export type AppInterface = 'fetch' | 'node';

/**
 * WebSocket handlers an app may export as `websocket` (or carry as a
 * `websocket` property next to `fetch`, Bun style), served on the `ws` package.
 * Text frames arrive as strings, binary frames as Buffers.
 */
export interface WebSocketHandlers {
  open?(ws: WebSocket, req: IncomingMessage): unknown;
  message?(ws: WebSocket, message: string | Buffer, isBinary: boolean): unknown;
  close?(ws: WebSocket, code: number, reason: string): unknown;
}

/** For apps that bring their own WebSocket server (socket.io, ws `noServer`). */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

/** An app, loaded and classified, ready to be served. */
export interface LoadedApp {
  interface: AppInterface;
  /** The app in node:http shape (fetch apps are adapted). */
  handler: NodeHandler;
  websocket?: WebSocketHandlers;
  upgrade?: UpgradeHandler;
  startup?: () => unknown;
  shutdown?: () => unknown;
  /** What was loaded, for the startup line (e.g. `./app.js:default`). */
  description: string;
}

/** Anything `serve()` accepts as an app. */
export type AppInput = NodeHandler | FetchFunction | FetchApp | { default: unknown };
