import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { parseAppSpec } from '../../app/load.js';

interface PackageInfo {
  name: string;
  version: string | undefined;
}

/**
 * The resource every span carries. `service.name` is, by precedence:
 * OTEL_SERVICE_NAME, `service.name` in OTEL_RESOURCE_ATTRIBUTES, the name in
 * the app's nearest package.json, then "pounce". Other OTEL_RESOURCE_ATTRIBUTES
 * (deployment.environment, k8s.pod.name, ...) are added as given.
 */
export function buildResource(appDescription: string): Resource {
  const pkg = appPackage(appDescription);
  const own: Record<string, string | number> = {
    'service.name': pkg?.name ?? 'pounce',
    'host.name': hostname(),
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
  };
  if (pkg?.version) own['service.version'] = pkg.version;
  return defaultResource().merge(resourceFromAttributes(own)).merge(detectResources({ detectors: [envDetector] }));
}

/** The package.json (with a name) nearest to the app file, or to the working directory. */
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
