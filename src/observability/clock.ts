/**
 * Wall-clock time with microsecond resolution, cheap enough to read per event.
 *
 * `performance.now()` is monotonic and sub-millisecond; `Date.now()` is the
 * wall clock. We keep an offset between them and re-check it once per second
 * so NTP adjustments are followed without a syscall per read.
 */
// The module's binding, not the global: on Node 20 the global `performance` is an accessor, run on every read.
import { performance } from 'node:perf_hooks';
import { flattened } from './flat-string.js';

let offset = Date.now() - performance.now();

/** Milliseconds since the epoch, fractional (microsecond resolution). */
export function nowMs(): number {
  return offset + performance.now();
}

let cachedSecond = -1;
let cachedPrefix = '';

/**
 * RFC 3339 UTC with microseconds, e.g. 2026-02-12T10:15:30.123456Z.
 * The date part is cached per second: formatting it is the expensive bit.
 */
export function isoTimestamp(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  // 0..999999: at epoch magnitudes a double's ms/1000 never rounds up to the next whole second.
  const micros = Math.floor((epochMs - second * 1000) * 1000);
  return secondPrefix(second) + THREE_DIGITS[(micros / 1000) | 0] + THREE_DIGITS[micros % 1000] + 'Z';
}

/**
 * '000'…'999'. The sub-second digits of a timestamp from this table, not
 * String(n).padStart(): a number-to-string conversion misses V8's small cache
 * and cost ~1.5k of the ~2k instructions of a timestamp (valgrind).
 */
export const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) => flattened(String(i).padStart(3, '0')));

/** `2026-02-12T10:15:30.` for a second since the epoch: cached, made once per second. */
export function secondPrefix(second: number): string {
  if (second !== cachedSecond) {
    resync();
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return cachedPrefix;
}

function resync(): void {
  const drift = Date.now() - (offset + performance.now());
  if (drift > 1 || drift < -1) offset += drift;
}

/** Milliseconds rounded to microseconds, the precision every duration is logged with. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

let textSecond = -1;
let textPrefix = '';

/** The text format's time of day, UTC with milliseconds (10:15:33.625); the HH:MM:SS part cached per second. */
export function textTime(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  const millis = Math.floor(epochMs - second * 1000);
  if (second !== textSecond) {
    textSecond = second;
    textPrefix = new Date(second * 1000).toISOString().slice(11, 20);
  }
  return textPrefix + THREE_DIGITS[millis];
}
