export { serve, type PounceServer, type ServeOptions, type CloseOptions } from './runtime/serve.js';
export { ServerConfig } from './config/server-config.js';
export { ConfigError } from './config/errors.js';
export { OPTIONS, type ServerOptions, type ServerOptionsInput, type OptionName } from './config/options.js';
export { currentRequest, type RequestInfo } from './app/context.js';
export { AppLoadError } from './app/errors.js';
export type { AppInput, FetchApp, FetchFunction, NodeHandler, WebSocketHandlers, UpgradeHandler } from './app/types.js';
export type { CloseReason, LifecycleEvent, Protocol } from './lifecycle/events.js';

import { armRequestContext } from './app/context.js';
// An app that imports pounce can call currentRequest() anywhere in a request's
// async flow: the request context is on from before its first request.
armRequestContext();
