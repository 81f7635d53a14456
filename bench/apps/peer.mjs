// Peers live in bench/peers/node_modules (installed apart from pounce's own
// dependencies: `npm install --prefix bench/peers`), so resolve them from there.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(new URL('../peers/package.json', import.meta.url));

export async function importPeer(name) {
  let path;
  try {
    path = require.resolve(name);
  } catch {
    throw new Error(`peer package ${name} is not installed: run npm install --prefix bench/peers`);
  }
  const mod = await import(pathToFileURL(path).href);
  return mod.default ?? mod;
}
