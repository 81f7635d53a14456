import type { Logger } from 'pino';
import { handleAppError } from './app-error.js';
import { currentRequest } from './context.js';
import type { NodeHandler } from './types.js';

/** A Node (req, res) listener whose synchronous throws and rejected promises become a 500. */
export function guardNodeHandler(handler: NodeHandler, appLogger: Logger): NodeHandler {
  return (req, res) => {
    try {
      const result = handler(req, res) as { then?: unknown } | undefined;
      if (result && typeof result.then === 'function') {
        // Read now, while the request's context is certainly current.
        const request = currentRequest();
        (result as Promise<unknown>).then(undefined, (err: unknown) => handleAppError(err, res, appLogger, request));
      }
    } catch (err) {
      handleAppError(err, res, appLogger);
    }
  };
}
