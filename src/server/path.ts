const MAX_PATH = 2048;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const ABSOLUTE_FORM = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The URL's path without the query string (query strings carry tokens). An
 * absolute-form target (`GET http://host/p`, as sent to proxies, and which
 * servers must accept) gives its path too: `/p`.
 */
export function pathOf(url: string): string {
  if (url.charCodeAt(0) !== 47 /* / */ && url !== '*') {
    const m = ABSOLUTE_FORM.exec(url);
    if (m) url = url.slice(m[0].length) || '/';
    if (url.charCodeAt(0) === 63 /* ? */) url = '/' + url;
  }
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The path as logged: at most 2048 characters, never a raw control character (C0, DEL or C1). */
export function loggablePath(path: string): string {
  const p = path.length > MAX_PATH ? path.slice(0, MAX_PATH) : path;
  return escapeControls(p);
}

/** Control characters (C0, DEL, C1) as %XX: they would drive a terminal or split a line. */
export function escapeControls(text: string): string {
  return hasControl(text) ? text.replace(CONTROL, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()) : text;
}

/** CONTROL.test(text); a loop for the shortest strings (see needsEscape in event-line.ts). */
function hasControl(text: string): boolean {
  if (text.length > 8) {
    CONTROL.lastIndex = 0;
    return CONTROL.test(text);
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}
