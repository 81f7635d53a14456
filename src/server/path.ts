const MAX_PATH = 2048;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/g;

/** The URL's path without the query string (query strings carry tokens). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The path as logged: at most 2048 characters, never a raw control character. */
export function loggablePath(path: string): string {
  const p = path.length > MAX_PATH ? path.slice(0, MAX_PATH) : path;
  CONTROL.lastIndex = 0;
  return CONTROL.test(p) ? p.replace(CONTROL, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()) : p;
}
