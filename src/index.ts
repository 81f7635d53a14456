export { serve, type PounceServer, type ServeOptions, type CloseOptions } from './runtime/serve.js';
export { ServerConfig } from './config/server-config.js';
export { ConfigError } from './config/errors.js';
export { OPTIONS, type ServerOptions, type ServerOptionsInput, type OptionName } from './config/options.js';
export { currentRequest, type RequestInfo } from './app/context.js';
export { AppLoadError } from './app/errors.js';
export type { AppInput, FetchApp, FetchFunction, NodeHandler, WebSocketHandlers, UpgradeHandler } from './app/types.js';
export type { CloseReason, LifecycleEvent, Protocol } from './lifecycle/events.js';
