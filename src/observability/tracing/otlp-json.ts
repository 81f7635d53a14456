import type { AttributeValue, Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { ServerSpan } from './span.js';

/**
 * OTLP/HTTP JSON encoding of spans (ExportTraceServiceRequest): the document
 * @opentelemetry/otlp-transformer's JsonTraceSerializer produces, less the
 * span fields that hold their default value (a test holds them equal once
 * defaults are filled in), written straight into a reusable buffer.
 *
 * Why not that serializer: it builds the whole request as objects (an object
 * per attribute, BigInt timestamps), stringifies it into one string of
 * ~1 KB per span and encodes that into a fresh Buffer, per batch. Here each
 * span becomes one short string written into a buffer that is reused from
 * batch to batch: no large strings, no large allocations.
 */

/** Characters JSON must escape, or that JSON.stringify handles specially (non-ASCII, surrogates). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * Set when a string that may hold non-ASCII was encoded since the last reset:
 * then the text is written as UTF-8, otherwise (nearly always) as Latin-1,
 * which for ASCII is the same bytes, cheaper.
 */
let maybeNonAscii = false;

/** A JSON string literal. Most values are plain ASCII: quoting them is cheaper than JSON.stringify. */
function q(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return '"' + text + '"';
  maybeNonAscii = true;
  return JSON.stringify(text);
}

/** `{"key":"<key>","value":` per attribute key, encoded once: the same few keys come back on every span. */
const keyCache = new Map<string, string>();
function keyPrefix(key: string): string {
  let prefix = keyCache.get(key);
  if (prefix === undefined) {
    const before = maybeNonAscii;
    maybeNonAscii = false;
    prefix = '{"key":' + q(key) + ',"value":';
    // Only ASCII keys are cached: a cached prefix never needs to raise the flag.
    if (!maybeNonAscii && keyCache.size < 2048) keyCache.set(key, prefix);
    maybeNonAscii ||= before;
  }
  return prefix;
}

interface Group {
  resource: Resource;
  scopes: Map<string, { scope: InstrumentationScope; spans: ReadableSpan[] }>;
}

/** Encode `spans` into `pool` (grown if needed); returns the buffer holding the document and its length. */
export function encodeTraceRequest(spans: readonly ReadableSpan[], pool: Buffer): { buffer: Buffer; length: number } {
  const writer = new Writer(pool);
  writer.write('{"resourceSpans":[');
  let firstResource = true;
  for (const group of groupSpans(spans)) {
    writer.write(firstResource ? '{"resource":' : ',{"resource":');
    firstResource = false;
    const resource = resourceJson(group.resource);
    writer.write(resource, !NON_ASCII.test(resource));
    writer.write(',"scopeSpans":[');
    let firstScope = true;
    for (const { scope, spans: scoped } of group.scopes.values()) {
      writer.write(firstScope ? '{"scope":' : ',{"scope":');
      firstScope = false;
      const scopeText = scopeJson(scope);
      writer.write(scopeText, !NON_ASCII.test(scopeText));
      writer.write(',"spans":[');
      for (let i = 0; i < scoped.length; i++) {
        maybeNonAscii = false;
        const text = spanJson(scoped[i]!);
        writer.write(i === 0 ? text : ',' + text, !maybeNonAscii);
      }
      writer.write(']');
      if (scope.schemaUrl !== undefined) writer.write(',"schemaUrl":' + JSON.stringify(scope.schemaUrl));
      writer.write('}');
    }
    writer.write(']');
    const schemaUrl = group.resource.schemaUrl;
    if (schemaUrl) writer.write(',"schemaUrl":' + JSON.stringify(schemaUrl));
    writer.write('}');
  }
  writer.write(']}');
  return { buffer: writer.buffer, length: writer.length };
}

/** The same document as a string (tests, debugging). */
export function traceRequestJson(spans: readonly ReadableSpan[]): string {
  const { buffer, length } = encodeTraceRequest(spans, Buffer.allocUnsafe(64 * 1024));
  return buffer.toString('utf8', 0, length);
}

class Writer {
  length = 0;
  constructor(public buffer: Buffer) {}

  /** `ascii`: the caller knows the text is ASCII only (one byte per character). */
  write(text: string, ascii = true): void {
    // Grow before writing so nothing is cut: UTF-8 takes up to 3 bytes per UTF-16 unit.
    if (this.length + text.length * (ascii ? 1 : 3) > this.buffer.length) {
      const needed = this.length + (ascii ? text.length : Buffer.byteLength(text));
      if (needed > this.buffer.length) {
        const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.buffer.length * 2));
        this.buffer.copy(grown, 0, 0, this.length);
        this.buffer = grown;
      }
    }
    this.length += this.buffer.write(text, this.length, ascii ? 'latin1' : 'utf8');
  }
}

function groupSpans(spans: readonly ReadableSpan[]): Iterable<Group> {
  const groups = new Map<Resource, Group>();
  for (const span of spans) {
    let group = groups.get(span.resource);
    if (!group) {
      group = { resource: span.resource, scopes: new Map() };
      groups.set(span.resource, group);
    }
    const scope = span.instrumentationScope;
    const key = `${scope.name}@${scope.version || ''}:${scope.schemaUrl || ''}`;
    let entry = group.scopes.get(key);
    if (!entry) {
      entry = { scope, spans: [] };
      group.scopes.set(key, entry);
    }
    entry.spans.push(span);
  }
  return groups.values();
}

// Resources and scopes do not change: encode each once.
const resourceCache = new WeakMap<Resource, string>();
const scopeCache = new Map<string, string>();

function resourceJson(resource: Resource): string {
  let json = resourceCache.get(resource);
  if (json === undefined) {
    json = '{"attributes":' + attributesJson(resource.attributes as Attributes) + ',"droppedAttributesCount":0';
    if (resource.schemaUrl) json += ',"schemaUrl":' + q(resource.schemaUrl);
    json += '}';
    // Attributes still being detected asynchronously are not final: do not keep them.
    if (!resource.asyncAttributesPending) resourceCache.set(resource, json);
  }
  return json;
}

function scopeJson(scope: InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number }): string {
  const key = `${scope.name}@${scope.version ?? ''}`;
  const cacheable = !scope.attributes || Object.keys(scope.attributes).length === 0;
  let json = cacheable ? scopeCache.get(key) : undefined;
  if (json === undefined) {
    json = '{"name":' + q(scope.name);
    if (scope.version !== undefined) json += ',"version":' + q(scope.version);
    if (!cacheable) json += ',"attributes":' + attributesJson(scope.attributes!) + ',"droppedAttributesCount":' + (scope.droppedAttributesCount ?? 0);
    json += '}';
    if (cacheable && scopeCache.size < 1000) scopeCache.set(key, json);
  }
  return json;
}

function spanJson(span: ReadableSpan): string {
  const ctx = span.spanContext();
  const parent = span.parentSpanContext;
  let json = '{"traceId":"' + ctx.traceId + '","spanId":"' + ctx.spanId + '"';
  if (parent?.spanId) json += ',"parentSpanId":"' + parent.spanId + '"';
  const traceState = ctx.traceState?.serialize();
  if (traceState !== undefined) json += ',"traceState":' + q(traceState);
  json += ',"name":' + q(span.name) + ',"kind":' + (span.kind == null ? 0 : span.kind + 1);
  if (span instanceof ServerSpan) {
    json += ',"startTimeUnixNano":"' + msToNanos(span.startMs) + '","endTimeUnixNano":"' + msToNanos(span.endMs) + '"';
  } else {
    json += ',"startTimeUnixNano":"' + hrToNanos(span.startTime) + '","endTimeUnixNano":"' + hrToNanos(span.endTime) + '"';
  }
  // Fields at their default (0, empty list, unset status) are left out, as the
  // proto3 JSON mapping allows: ~12% fewer bytes to build and send per span.
  json += ',"attributes":' + attributesJson(span.attributes);
  if (span.droppedAttributesCount) json += ',"droppedAttributesCount":' + span.droppedAttributesCount;
  if (span.events.length > 0) json += ',"events":' + eventsJson(span.events);
  if (span.droppedEventsCount) json += ',"droppedEventsCount":' + span.droppedEventsCount;
  const status = span.status;
  if (status.code !== 0 || status.message) {
    json += ',"status":{"code":' + status.code + (status.message !== undefined ? ',"message":' + q(status.message) : '') + '}';
  }
  if (span.links.length > 0) json += ',"links":' + linksJson(span.links);
  if (span.droppedLinksCount) json += ',"droppedLinksCount":' + span.droppedLinksCount;
  json += ',"flags":' + spanFlags(ctx.traceFlags, parent?.isRemote) + '}';
  return json;
}

function eventsJson(events: TimedEvent[]): string {
  if (events.length === 0) return '[]';
  let json = '[';
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    json +=
      (i === 0 ? '' : ',') +
      '{"attributes":' + (e.attributes ? attributesJson(e.attributes) : '[]') +
      ',"name":' + q(e.name) +
      ',"timeUnixNano":"' + hrToNanos(e.time) +
      '","droppedAttributesCount":' + (e.droppedAttributesCount || 0) + '}';
  }
  return json + ']';
}

function linksJson(links: Link[]): string {
  if (links.length === 0) return '[]';
  let json = '[';
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    const ctx: SpanContext = link.context;
    const traceState = ctx.traceState?.serialize();
    json +=
      (i === 0 ? '' : ',') +
      '{"attributes":' + (link.attributes ? attributesJson(link.attributes) : '[]') +
      ',"spanId":"' + ctx.spanId + '","traceId":"' + ctx.traceId + '"' +
      (traceState !== undefined ? ',"traceState":' + q(traceState) : '') +
      ',"droppedAttributesCount":' + (link.droppedAttributesCount || 0) +
      ',"flags":' + spanFlags(ctx.traceFlags, ctx.isRemote) + '}';
  }
  return json + ']';
}

function attributesJson(attributes: Attributes): string {
  let json = '[';
  let first = true;
  for (const key of Object.keys(attributes)) {
    json += (first ? '' : ',') + keyPrefix(key) + anyValueJson(attributes[key]) + '}';
    first = false;
  }
  return json + ']';
}

function anyValueJson(value: AttributeValue | undefined | unknown): string {
  switch (typeof value) {
    case 'string':
      return '{"stringValue":' + q(value) + '}';
    case 'number':
      return Number.isInteger(value) ? '{"intValue":' + value + '}' : '{"doubleValue":' + JSON.stringify(value) + '}';
    case 'boolean':
      return value ? '{"boolValue":true}' : '{"boolValue":false}';
  }
  if (value instanceof Uint8Array) return '{"bytesValue":"' + Buffer.from(value).toString('base64') + '"}';
  if (Array.isArray(value)) {
    let json = '{"arrayValue":{"values":[';
    for (let i = 0; i < value.length; i++) json += (i === 0 ? '' : ',') + anyValueJson(value[i]);
    return json + ']}}';
  }
  if (typeof value === 'object' && value !== null) {
    let json = '{"kvlistValue":{"values":[';
    let first = true;
    for (const key of Object.keys(value)) {
      json += (first ? '' : ',') + '{"key":' + q(key) + ',"value":' + anyValueJson((value as Record<string, unknown>)[key]) + '}';
      first = false;
    }
    return json + ']}}';
  }
  return '{}';
}

/** W3C flags in the low byte; bit 8 says whether bit 9 (parent is remote) is known. */
function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);
}

const NINE_ZEROS = '000000000';

function hrToNanos(time: HrTime): string {
  const seconds = Math.trunc(time[0]);
  const nanos = String(Math.trunc(time[1]));
  return seconds === 0 ? nanos : String(seconds) + NINE_ZEROS.slice(nanos.length) + nanos;
}

let lastSeconds = -1;
let lastSecondsText = '';

/** Epoch milliseconds (fractional) → nanoseconds as a decimal string, without losing precision. */
function msToNanos(ms: number): string {
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  const n = '' + nanos;
  if (seconds === 0) return n;
  // Spans of a batch share their second: convert it once.
  if (seconds !== lastSeconds) {
    lastSeconds = seconds;
    lastSecondsText = '' + seconds;
  }
  return lastSecondsText + NINE_ZEROS.slice(n.length) + n;
}
