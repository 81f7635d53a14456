import { readFileSync } from 'node:fs';
import type { ServerConfig } from '../config/server-config.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The configuration as logged at startup: credentials in URLs are masked. */
export function effectiveConfig(config: ServerConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config.toJSON() };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string' && /^https?:\/\/[^/]*@/.test(value)) {
      const url = new URL(value);
      url.username = url.username ? '***' : '';
      url.password = url.password ? '***' : '';
      out[key] = url.toString();
    }
  }
  return out;
}
