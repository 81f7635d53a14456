/**
 * OTLP/HTTP protobuf for the SDK pounce starts itself: the official
 * exporter's transport (`@opentelemetry/otlp-exporter-base`: endpoint,
 * OTEL_EXPORTER_OTLP_[TRACES_]HEADERS / TIMEOUT / COMPRESSION, certificates,
 * retries, concurrency limit) with a one-pass encoder of the
 * ExportTraceServiceRequest in place of otlp-transformer's two-pass one
 * (a size estimate, then the write). Its bytes are the official
 * serializer's, byte for byte (test/unit/otlp-proto.test.ts compares them).
 *
 * Only a SpanExporter the SDK's BatchSpanProcessor calls: the SDK, its
 * processor, sampler and limits stay the standard ones. Used only where pounce
 * starts the SDK with OTLP http/protobuf (index.ts); a team's own SDK keeps
 * its exporter.
 */
import type { Attributes, AttributeValue, HrTime, Link, SpanContext, SpanStatus } from '@opentelemetry/api';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer, TraceExporterMetricsHelper, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter, TimedEvent } from '@opentelemetry/sdk-trace-base';

/** What the encoder reads of an SDK Resource (attributes, once settled) and a scope. */
interface ResourceLike {
  readonly attributes: Attributes;
  readonly schemaUrl?: string | undefined;
}
interface ScopeLike {
  readonly name: string;
  readonly version?: string | undefined;
  readonly schemaUrl?: string | undefined;
  readonly attributes?: Attributes | undefined;
  readonly droppedAttributesCount?: number | undefined;
}

const INITIAL_SIZE = 64 * 1024;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

/** charCode → hex digit value, as otlp-transformer's hexToBinary reads it (anything else as if A–F). */
const HEX = new Uint8Array(128);
for (let c = 0; c < 128; c++) HEX[c] = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : (c - 55) & 0xff;
/** Two hex characters (7 bits each) → their byte: one lookup per byte of an id. */
const HEX_PAIR = new Uint8Array(1 << 14);
for (let hi = 0; hi < 128; hi++) for (let lo = 0; lo < 128; lo++) HEX_PAIR[(hi << 7) | lo] = (HEX[hi]! << 4) | HEX[lo]!;

const utf8 = new TextEncoder();

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/**
 * A growing byte buffer, reused from one export to the next (each export gets
 * its own copy of the bytes). A nested message reserves room for its length,
 * writes its fields, then writes the length in front, moving the fields when
 * the length needs another size than was reserved (rare: reservations fit the
 * usual sizes).
 */
class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(size = INITIAL_SIZE) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Tag (field number, wire type): every tag pounce writes fits two bytes. */
  tag(field: number, wire: number): void {
    this.ensure(2);
    const v = (field << 3) | wire;
    if (v < 0x80) this.buf[this.pos++] = v;
    else {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      this.buf[this.pos++] = v >>> 7;
    }
  }

  varint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[this.pos++] = v;
      return;
    }
    // 64 bits, two's complement for negative numbers (as otlp-transformer's writer).
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = (value / 0x100000000) >>> 0;
    } else {
      const abs = Math.abs(value);
      low = ~(abs >>> 0) >>> 0;
      high = ~((abs / 0x100000000) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buf[this.pos++] = low;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  /** HrTime [seconds, nanoseconds] as fixed64 nanoseconds, exact (no 2^53 rounding). */
  hrTime(time: HrTime): void {
    this.ensure(8);
    const seconds = time[0];
    const nanos = time[1];
    const lowSeconds = seconds & 0xffff;
    const highSeconds = (seconds / 0x10000) >>> 0;
    const fromLow = lowSeconds * 1e9;
    const fromHigh = highSeconds * 1e9;
    const sumLow = (fromLow >>> 0) + (((fromHigh & 0xffff) * 0x10000) >>> 0) + nanos;
    const low = sumLow >>> 0;
    const high = (Math.floor(fromLow / 0x100000000) + ((fromHigh / 0x10000) >>> 0) + Math.floor(sumLow / 0x100000000)) >>> 0;
    this.view.setUint32(this.pos, low, true);
    this.view.setUint32(this.pos + 4, high, true);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** A string: length and UTF-8 bytes; ASCII copied by hand, the rest through TextEncoder. */
  string(s: string): void {
    const n = s.length;
    this.ensure(n + 10);
    const buf = this.buf;
    const start = this.pos;
    let p = start + varintSize(n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        this.bytes(utf8.encode(s));
        return;
      }
      buf[p++] = c;
    }
    this.pos = start;
    this.varint(n);
    this.pos = p;
  }

  /** Bytes already encoded (a key's tag, length and UTF-8): copied as they are. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    // TypedArray#set, even for a few bytes: a JS byte loop here costs more (callgrind).
    buf.set(bytes, p);
    this.pos = p + n;
  }

  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A trace or span id: hex to bytes, length first. */
  hexId(hex: string): void {
    const n = hex.length >>> 1;
    this.varint(n);
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < hex.length; i += 2) buf[p++] = HEX_PAIR[((hex.charCodeAt(i) & 0x7f) << 7) | (hex.charCodeAt(i + 1) & 0x7f)]!;
    this.pos = p;
  }

  /** Start a length-delimited message, reserving `reserve` bytes for its length. */
  open(reserve: number): number {
    this.ensure(reserve);
    const start = this.pos;
    this.pos += reserve;
    return start;
  }

  /** Write the length of the message opened at `start` in front of it. */
  close(start: number, reserve: number): void {
    const length = this.pos - start - reserve;
    const need = varintSize(length);
    if (need !== reserve) {
      this.ensure(need - reserve);
      this.buf.copyWithin(start + need, start + reserve, this.pos);
      this.pos += need - reserve;
    }
    let p = start;
    let v = length;
    const buf = this.buf;
    while (v > 0x7f) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p] = v;
  }
}

// --- messages (field numbers from opentelemetry-proto, in otlp-transformer's order) ---

function attributes(w: Writer, attrs: Attributes, field: number): void {
  // A span's attributes come in the order of the last span's (the same code set them):
  // the key at the same place is found without a map lookup.
  const sequence = field === SPAN_ATTRIBUTES;
  let i = 0;
  for (const key in attrs) {
    if (!Object.prototype.hasOwnProperty.call(attrs, key)) continue;
    const value = attrs[key];
    let entry: KeyEntry | undefined;
    if (sequence && i < SEQUENCE_MAX) {
      if (sequenceKeys[i] === key) entry = sequenceEntries[i];
      else {
        entry = keyEntry(key);
        sequenceKeys[i] = key;
        sequenceEntries[i] = entry;
      }
      i++;
    } else entry = keyEntry(key);
    if (entry !== undefined) {
      // The same value as the last time this key was written (the method, scheme, server, worker...): the same bytes.
      if (value === entry.value && field === entry.field && entry.keyValue !== undefined) {
        w.raw(entry.keyValue);
        continue;
      }
      const start = w.pos;
      if (shortKeyValue(w, field, entry.key, value)) {
        remember(entry, w, start, field, value);
        continue;
      }
    }
    w.tag(field, 2);
    const kv = w.open(1);
    keyValue(w, key, value);
    w.close(kv, 1);
  }
}

/**
 * A short KeyValue's first bytes (entry tag, its one-byte length, the key, the
 * AnyValue tag), room made for all kvLength + 2 of them: where the AnyValue's length goes.
 */
function keyValueHead(w: Writer, field: number, key: Uint8Array, kvLength: number): number {
  w.ensure(kvLength + 2);
  const buf = w.buf;
  let p = w.pos;
  buf[p++] = (field << 3) | 2;
  buf[p++] = kvLength;
  buf.set(key, p);
  p += key.length;
  buf[p++] = 0x12;
  return p;
}

/**
 * The usual attribute in one go: a KeyValue under 128 bytes whose value is an
 * ASCII string, a boolean or an integer in 0..2^32-1, so that every length is
 * one byte and known in advance (no reserving and patching of lengths). The
 * same bytes as keyValue() writes; false (nothing written) for anything else.
 */
function shortKeyValue(w: Writer, field: number, key: Uint8Array, value: unknown): boolean {
  const k = key.length;
  if (typeof value === 'string') {
    const n = value.length;
    // entry tag, KeyValue length, key, value tag, AnyValue length, string tag, string length, bytes
    const kvLength = k + 4 + n;
    if (kvLength > 0x7f) return false;
    let p = keyValueHead(w, field, key, kvLength);
    const buf = w.buf;
    buf[p++] = n + 2;
    buf[p++] = 0x0a;
    buf[p++] = n;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) return false;
      buf[p++] = c;
    }
    w.pos = p;
    return true;
  }
  let v: number;
  let valueTag: number;
  if (typeof value === 'number') {
    if (!(value >= 0 && value <= 0xffffffff && Number.isInteger(value))) return false;
    v = value;
    valueTag = 0x18;
  } else if (typeof value === 'boolean') {
    v = value ? 1 : 0;
    valueTag = 0x10;
  } else return false;
  const size = varintSize(v);
  // entry tag, KeyValue length, key, value tag, AnyValue length, int/bool tag, varint
  const kvLength = k + 3 + size;
  if (kvLength > 0x7f) return false;
  let p = keyValueHead(w, field, key, kvLength);
  const buf = w.buf;
  buf[p++] = size + 1;
  buf[p++] = valueTag;
  while (v > 0x7f) {
    buf[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[p++] = v;
  w.pos = p;
  return true;
}

/**
 * Attribute keys repeat from span to span (the same dozen or so on every
 * SERVER span): each is encoded once — KeyValue.key's tag, length, UTF-8 —
 * and copied afterwards; many values repeat too (method, scheme, server
 * address and port, protocol version, worker id), so the whole KeyValue last
 * written under a key is kept, and copied while the value stays the same.
 * Bounded: past KEY_CACHE_SIZE distinct keys, the rest are encoded each time;
 * a key whose value keeps changing (ports, connection ids) stops keeping its
 * last KeyValue after VALUE_MISSES changes.
 */
const KEY_CACHE_SIZE = 1024;
const VALUE_MISSES = 32;

interface KeyEntry {
  /** KeyValue.key: tag, length, UTF-8. */
  readonly key: Uint8Array;
  /** The last short KeyValue written under this key (with its entry tag and length), its value and field. */
  keyValue: Uint8Array | undefined;
  value: unknown;
  field: number;
  misses: number;
}

const keyCache = new Map<string, KeyEntry>();
/** Span.attributes is field 9; the keys of the last span's attributes, in order, and their entries. */
const SPAN_ATTRIBUTES = 9;
const SEQUENCE_MAX = 64;
const sequenceKeys: string[] = [];
const sequenceEntries: Array<KeyEntry | undefined> = [];
const keyWriter = new Writer(256);

function keyEntry(key: string): KeyEntry | undefined {
  let entry = keyCache.get(key);
  if (entry === undefined && keyCache.size < KEY_CACHE_SIZE) {
    keyWriter.pos = 0;
    keyWriter.tag(1, 2);
    keyWriter.string(key);
    entry = { key: keyWriter.buf.slice(0, keyWriter.pos), keyValue: undefined, value: undefined, field: 0, misses: 0 };
    keyCache.set(key, entry);
  }
  return entry;
}

function remember(entry: KeyEntry, w: Writer, start: number, field: number, value: unknown): void {
  if (entry.misses >= VALUE_MISSES) return;
  entry.misses++;
  entry.keyValue = w.buf.slice(start, w.pos);
  entry.value = value;
  entry.field = field;
}

function encodedKey(key: string): Uint8Array | undefined {
  return keyEntry(key)?.key;
}

function keyValue(w: Writer, key: string, value: unknown): void {
  const encoded = encodedKey(key);
  if (encoded === undefined) {
    w.tag(1, 2);
    w.string(key);
  } else w.raw(encoded);
  w.tag(2, 2);
  const v = w.open(1);
  anyValue(w, value);
  w.close(v, 1);
}

function anyValue(w: Writer, value: unknown): void {
  const t = typeof value;
  if (t === 'string') {
    w.tag(1, 2);
    w.string(value as string);
  } else if (t === 'boolean') {
    w.tag(2, 0);
    w.varint(value ? 1 : 0);
  } else if (t === 'number') {
    const n = value as number;
    if (Number.isInteger(n) && n >= MIN_INT64 && n < MAX_INT64) {
      w.tag(3, 0);
      w.varint(n);
    } else {
      w.tag(4, 1);
      w.double(n);
    }
  } else if (value instanceof Uint8Array) {
    w.tag(7, 2);
    w.bytes(value);
  } else if (Array.isArray(value)) {
    w.tag(5, 2);
    const array = w.open(2);
    for (const item of value) {
      w.tag(1, 2);
      const entry = w.open(1);
      anyValue(w, item);
      w.close(entry, 1);
    }
    w.close(array, 2);
  } else if (t === 'object' && value !== null) {
    w.tag(6, 2);
    const list = w.open(2);
    const obj = value as Record<string, unknown>;
    for (const k in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
      w.tag(1, 2);
      const kv = w.open(1);
      keyValue(w, k, obj[k]);
      w.close(kv, 1);
    }
    w.close(list, 2);
  }
  // Anything else (undefined, null, functions): an empty AnyValue, as otlp-transformer writes it.
}

function status(w: Writer, s: SpanStatus): void {
  const start = w.open(1);
  if (s.message) {
    w.tag(2, 2);
    w.string(s.message);
  }
  w.tag(3, 0);
  w.varint(s.code);
  w.close(start, 1);
}

function event(w: Writer, e: TimedEvent & { droppedAttributesCount?: number }): void {
  const start = w.open(1);
  w.tag(1, 1);
  w.hrTime(e.time);
  w.tag(2, 2);
  w.string(e.name);
  if (e.attributes) attributes(w, e.attributes, 3);
  w.tag(4, 0);
  w.varint(e.droppedAttributesCount || 0);
  w.close(start, 1);
}

function link(w: Writer, l: Link & { droppedAttributesCount?: number }): void {
  const start = w.open(1);
  const ctx = l.context;
  idFields(w, ctx);
  if (l.attributes) attributes(w, l.attributes, 4);
  w.tag(5, 0);
  w.varint(l.droppedAttributesCount || 0);
  w.tag(6, 5);
  w.fixed32(spanFlags(ctx.traceFlags, ctx.isRemote));
  w.close(start, 1);
}

/** trace_id = 1, span_id = 2, trace_state = 3: the same field numbers in Span and Span.Link. */
function idFields(w: Writer, ctx: SpanContext): void {
  w.tag(1, 2);
  w.hexId(ctx.traceId);
  w.tag(2, 2);
  w.hexId(ctx.spanId);
  const traceState = ctx.traceState?.serialize();
  if (traceState) {
    w.tag(3, 2);
    w.string(traceState);
  }
}

function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | FLAGS_HAS_IS_REMOTE | (isRemote ? FLAGS_IS_REMOTE : 0);
}

function span(w: Writer, s: ReadableSpan): void {
  const start = w.open(2);
  const ctx = s.spanContext();
  idFields(w, ctx);
  const parent = s.parentSpanContext;
  if (parent?.spanId) {
    w.tag(4, 2);
    w.hexId(parent.spanId);
  }
  w.tag(5, 2);
  w.string(s.name);
  const kind = s.kind == null ? 0 : s.kind + 1;
  if (kind !== 0) {
    w.tag(6, 0);
    w.varint(kind);
  }
  w.tag(7, 1);
  w.hrTime(s.startTime);
  w.tag(8, 1);
  w.hrTime(s.endTime);
  if (s.attributes) attributes(w, s.attributes, 9);
  w.tag(10, 0);
  w.varint(s.droppedAttributesCount);
  for (const e of s.events) {
    w.tag(11, 2);
    event(w, e);
  }
  w.tag(12, 0);
  w.varint(s.droppedEventsCount);
  for (const l of s.links) {
    w.tag(13, 2);
    link(w, l);
  }
  w.tag(14, 0);
  w.varint(s.droppedLinksCount);
  w.tag(15, 2);
  status(w, s.status);
  w.tag(16, 5);
  w.fixed32(spanFlags(ctx.traceFlags, parent?.isRemote));
  w.close(start, 2);
}

function scope(w: Writer, sc: ScopeLike): void {
  w.tag(1, 2);
  const start = w.open(1);
  w.tag(1, 2);
  w.string(sc.name);
  if (sc.version) {
    w.tag(2, 2);
    w.string(sc.version);
  }
  if (sc.attributes) attributes(w, sc.attributes, 3);
  if (sc.droppedAttributesCount) {
    w.tag(4, 0);
    w.varint(sc.droppedAttributesCount);
  }
  w.close(start, 1);
}

function resource(w: Writer, r: ResourceLike): void {
  w.tag(1, 2);
  const start = w.open(2);
  if (r.attributes) attributes(w, r.attributes, 1);
  w.tag(2, 0);
  w.varint(0);
  w.close(start, 2);
}

const writer = new Writer(4096);

/** What `write` writes, as bytes of its own (the small messages around a batch's spans). */
function piece(write: (w: Writer) => void): Uint8Array {
  const w = writer;
  w.pos = 0;
  write(w);
  const bytes = w.buf.slice(0, w.pos);
  // A resource far larger than usual does not keep its buffer.
  if (w.buf.length > 64 * 1024) {
    w.buf = new Uint8Array(4096);
    w.view = new DataView(w.buf.buffer);
  }
  w.pos = 0;
  return bytes;
}

/** ResourceSpans.schema_url and ScopeSpans.schema_url: field 3 of both, when set. */
function schemaUrl(w: Writer, url: string | undefined): void {
  if (url) {
    w.tag(3, 2);
    w.string(url);
  }
}

/** Where a batch's encoded spans of one resource and scope go, in the order they ended. */
interface ScopeChunk {
  readonly scope: ScopeLike;
  readonly spans: Writer;
}

const CHUNK_SIZE = 64 * 1024;
/** Chunk writers kept for the next batches (their buffers grown to the usual batch). */
const spareChunks: Writer[] = [];
const SPARE_CHUNKS = 8;

/**
 * An ExportTraceServiceRequest in the making: each span is encoded as it is
 * added, into the chunk of its resource (identity) and scope (name, version,
 * schema URL), grouped the way otlp-transformer groups them; `encode()` writes
 * the request around the chunks, each copied once. Its bytes are the official
 * serializer's for the same spans in the same order (test/unit/otlp-proto.test.ts).
 */
class SpanBatch {
  /** Spans added. */
  length = 0;
  private readonly groups = new Map<ResourceLike, Map<string, ScopeChunk>>();
  private lastScope: ScopeLike | undefined;
  private lastResource: ResourceLike | undefined;
  private lastChunk: ScopeChunk | undefined;

  add(s: ReadableSpan): void {
    const r = s.resource as ResourceLike;
    const sc = s.instrumentationScope as ScopeLike;
    let chunk = this.lastChunk;
    if (sc !== this.lastScope || r !== this.lastResource || chunk === undefined) {
      let scopes = this.groups.get(r);
      if (scopes === undefined) this.groups.set(r, (scopes = new Map()));
      const key = `${sc.name}@${sc.version || ''}:${sc.schemaUrl || ''}`;
      chunk = scopes.get(key);
      if (chunk === undefined) {
        const spans = spareChunks.pop() ?? new Writer(CHUNK_SIZE);
        spans.pos = 0;
        scopes.set(key, (chunk = { scope: sc, spans }));
      }
      this.lastScope = sc;
      this.lastResource = r;
      this.lastChunk = chunk;
    }
    const w = chunk.spans;
    w.tag(2, 2);
    span(w, s);
    this.length++;
  }

  /** The request's bytes. The batch is spent afterwards (its chunks go back for the next batches). */
  encode(): Uint8Array {
    try {
      // The resource and scope messages are small: encode them first, so that every length is
      // known, then write the request into one buffer of its size (the spans' bytes copied once).
      const resources: Array<{ head: Uint8Array; scopes: Array<{ head: Uint8Array; spans: Writer; tail: Uint8Array; length: number }>; tail: Uint8Array; length: number }> = [];
      let total = 0;
      for (const [r, scopes] of this.groups) {
        const head = piece((w) => resource(w, r));
        const tail = piece((w) => schemaUrl(w, r.schemaUrl));
        let length = head.length + tail.length;
        const parts = [];
        for (const { scope: sc, spans } of scopes.values()) {
          const scopeHead = piece((w) => scope(w, sc));
          const scopeTail = piece((w) => schemaUrl(w, sc.schemaUrl));
          const scopeLength = scopeHead.length + spans.pos + scopeTail.length;
          parts.push({ head: scopeHead, spans, tail: scopeTail, length: scopeLength });
          length += 1 + varintSize(scopeLength) + scopeLength;
        }
        resources.push({ head, scopes: parts, tail, length });
        total += 1 + varintSize(length) + length;
      }
      const out = Buffer.allocUnsafe(total);
      let p = 0;
      const put = (bytes: Uint8Array) => {
        out.set(bytes, p);
        p += bytes.length;
      };
      const lengthDelimited = (tag: number, length: number) => {
        out[p++] = tag;
        let v = length;
        while (v > 0x7f) {
          out[p++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        out[p++] = v;
      };
      for (const rs of resources) {
        lengthDelimited(0x0a, rs.length); // ExportTraceServiceRequest.resource_spans = 1
        put(rs.head);
        for (const ss of rs.scopes) {
          lengthDelimited(0x12, ss.length); // ResourceSpans.scope_spans = 2
          put(ss.head);
          put(ss.spans.buf.subarray(0, ss.spans.pos));
          put(ss.tail);
        }
        put(rs.tail);
      }
      return out;
    } finally {
      this.release();
    }
  }

  /** Give the chunks back for the next batches. */
  private release(): void {
    for (const scopes of this.groups.values()) {
      for (const { spans } of scopes.values()) {
        if (spareChunks.length < SPARE_CHUNKS && spans.buf.length <= 16 * CHUNK_SIZE) spareChunks.push(spans);
      }
    }
    this.groups.clear();
    this.lastChunk = undefined;
    this.lastScope = undefined;
    this.lastResource = undefined;
  }
}

/** ExportTraceServiceRequest for these spans, grouped by resource and scope as otlp-transformer groups them. */
export function encodeTraceRequest(spans: ReadableSpan[]): Uint8Array {
  const batch = new SpanBatch();
  for (const s of spans) batch.add(s);
  return batch.encode();
}

const serializer: ISerializer<ReadableSpan[], IExportTraceServiceResponse> = {
  serializeRequest: encodeTraceRequest,
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};

/**
 * The OTLP http/protobuf trace exporter, as `@opentelemetry/exporter-trace-otlp-proto`
 * builds it (the same configuration from options and OTEL_EXPORTER_OTLP_* variables,
 * the same transport), with the one-pass encoder.
 */
export class OtlpProtoSpanExporter extends OTLPExporterBase<ReadableSpan[]> implements SpanExporter {
  constructor(config: { url?: string } = {}) {
    super(
      createOtlpHttpExportDelegate(
        convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
        serializer,
        'otlp_http_span_exporter',
        TraceExporterMetricsHelper,
        undefined,
      ),
    );
  }
}
