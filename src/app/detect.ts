import { AppLoadError } from './errors.js';
import type { AppInterface, FetchFunction, NodeHandler } from './types.js';

export type InterfaceChoice = 'auto' | AppInterface;

export type Detected =
  | { interface: 'fetch'; fetch: FetchFunction }
  | { interface: 'node'; handler: NodeHandler };

/**
 * Decide how to call an app:
 * - an object with `fetch(request, ...)` (Hono, `export default { fetch }`) → fetch;
 * - a function of two or more parameters `(req, res)` (Express, Koa callback) → node;
 * - a function of one parameter `(request)` → fetch.
 * `--interface` overrides the guess; a guess that cannot be made is an error naming the flag.
 */
export function detectInterface(app: unknown, choice: InterfaceChoice, name: string): Detected {
  if (app !== null && typeof app === 'object' && typeof (app as { fetch?: unknown }).fetch === 'function') {
    if (choice === 'node') throw new AppLoadError(`${name} is a fetch app (it has a fetch() method), but --interface node was given`);
    const target = app as { fetch: FetchFunction };
    return { interface: 'fetch', fetch: target.fetch.bind(target) };
  }
  if (typeof app !== 'function') {
    const what = app === null ? 'null' : typeof app;
    throw new AppLoadError(
      `${name} is not an app: expected a fetch handler (an object with fetch(request), or a function (request) => Response) or a Node listener (req, res); got ${what}`,
    );
  }
  const fn = app as (...args: unknown[]) => unknown;
  if (choice === 'fetch') return { interface: 'fetch', fetch: fn as FetchFunction };
  if (choice === 'node') return { interface: 'node', handler: fn as NodeHandler };
  if (fn.length >= 2) return { interface: 'node', handler: fn as NodeHandler };
  if (fn.length === 1) return { interface: 'fetch', fetch: fn as FetchFunction };
  throw new AppLoadError(
    `cannot tell how to call ${name}: a function declaring ${fn.length} parameters could be a fetch handler or a Node listener; pass --interface fetch or --interface node`,
  );
}
