import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { detectInterface, type InterfaceChoice } from './detect.js';
import { AppLoadError } from './errors.js';
import { fetchToNode } from './fetch-adapter.js';
import { guardNodeHandler } from './node-adapter.js';
import type { LoadedApp, UpgradeHandler, WebSocketHandlers } from './types.js';

/** `./app.js:name` → file and export name (default when absent). */
export function parseAppSpec(spec: string): { file: string; exportName: string } {
  // A colon after the last path separator names an export; a Windows drive letter does not.
  const colon = spec.lastIndexOf(':');
  if (colon > 1 && colon > spec.lastIndexOf('/')) {
    return { file: spec.slice(0, colon), exportName: spec.slice(colon + 1) || 'default' };
  }
  return { file: spec, exportName: 'default' };
}

/** Import the app module named on the command line and make it servable. */
export async function loadAppModule(spec: string, choice: InterfaceChoice, appLogger: Logger): Promise<LoadedApp> {
  const { file, exportName } = parseAppSpec(spec);
  const path = resolve(file);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new AppLoadError(`cannot load app ${spec}: no such file ${path}`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error;
    throw new AppLoadError(`cannot load app ${spec}: importing it threw ${e.name}: ${firstLine(e.message)}`, { cause: err });
  }
  let app: unknown;
  if (exportName in mod) {
    app = mod[exportName];
  } else if (exportName === 'default' && typeof mod.fetch === 'function') {
    // `export function fetch(request)` with no default export.
    app = mod;
  } else {
    const names = Object.keys(mod).filter((k) => k !== 'startup' && k !== 'shutdown');
    throw new AppLoadError(
      `cannot load app ${spec}: ${file} has no export "${exportName}"` + (names.length ? ` (it exports: ${names.join(', ')})` : ' (it exports nothing)'),
    );
  }
  // A CommonJS module imported from ESM arrives as { default: module.exports }.
  if (app !== null && typeof app === 'object' && !('fetch' in app) && 'default' in app) app = (app as { default: unknown }).default;
  const description = `${file}:${exportName}`;
  const loaded = toLoadedApp(app, choice, description, appLogger);
  attachUpgradeHandlers(loaded, mod.websocket ?? (app as { websocket?: unknown } | null)?.websocket, mod.upgrade, spec);
  if (mod.startup !== undefined) loaded.startup = lifespanHook(mod.startup, 'startup', spec);
  if (mod.shutdown !== undefined) loaded.shutdown = lifespanHook(mod.shutdown, 'shutdown', spec);
  return loaded;
}

/** Classify and adapt an app object (from a module or from `serve(app)`). */
export function toLoadedApp(app: unknown, choice: InterfaceChoice, description: string, appLogger: Logger): LoadedApp {
  const detected = detectInterface(app, choice, description);
  if (detected.interface === 'fetch') {
    return { interface: 'fetch', handler: fetchToNode(detected.fetch, appLogger), description };
  }
  return { interface: 'node', handler: guardNodeHandler(detected.handler, appLogger), description };
}

/** `websocket` handlers or an `upgrade(req, socket, head)` function, checked at load time. */
export function attachUpgradeHandlers(loaded: LoadedApp, websocket: unknown, upgrade: unknown, spec: string): void {
  if (websocket !== undefined) {
    if (websocket === null || typeof websocket !== 'object') {
      throw new AppLoadError(`cannot load app ${spec}: its "websocket" export must be an object with open/message/close handlers`);
    }
    for (const name of ['open', 'message', 'close'] as const) {
      const handler = (websocket as Record<string, unknown>)[name];
      if (handler !== undefined && typeof handler !== 'function') {
        throw new AppLoadError(`cannot load app ${spec}: websocket.${name} must be a function`);
      }
    }
    loaded.websocket = websocket as WebSocketHandlers;
  }
  if (upgrade !== undefined) {
    if (typeof upgrade !== 'function') throw new AppLoadError(`cannot load app ${spec}: its "upgrade" export must be a function (req, socket, head)`);
    if (loaded.websocket) throw new AppLoadError(`cannot load app ${spec}: export either "websocket" handlers or an "upgrade" function, not both`);
    loaded.upgrade = upgrade as UpgradeHandler;
  }
}

function lifespanHook(value: unknown, name: string, spec: string): () => unknown {
  if (typeof value !== 'function') throw new AppLoadError(`cannot load app ${spec}: its "${name}" export is not a function`);
  return value as () => unknown;
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? '';
}
