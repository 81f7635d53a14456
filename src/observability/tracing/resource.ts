import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAppSpec } from '../../app/load.js';

interface PackageInfo {
  name: string;
  version: string | undefined;
}

/** The package.json (names the service when OTEL_SERVICE_NAME does not): the one (with a name) nearest to the app file, or to the working directory. */
export function appPackage(appDescription: string): PackageInfo | undefined {
  const file = resolve(parseAppSpec(appDescription).file);
  let dir = existsSync(file) && statSync(file).isFile() ? dirname(file) : process.cwd();
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
        if (typeof pkg.name === 'string' && pkg.name !== '') {
          return { name: pkg.name, version: typeof pkg.version === 'string' ? pkg.version : undefined };
        }
      } catch {
        // Unreadable or not JSON: keep looking upwards.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
