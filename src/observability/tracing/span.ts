import {
  diag,
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type HrTime,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanStatus,
  type TimeInput,
} from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { IdGenerator, ReadableSpan, Sampler, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { nowMs } from '../clock.js';

const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];
const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];

export interface SpanLimits {
  attributeCountLimit: number;
  attributeValueLengthLimit: number;
  eventCountLimit: number;
}

/**
 * Starts pounce's own SERVER spans.
 *
 * The SDK's tracer would do, but per request it allocates a dozen objects
 * (time tuples, copies of the attributes, link and event arrays, metrics
 * hooks) that then live until the batch is exported. This one makes the
 * same sampling decision with the same sampler and id generator, and builds
 * one object with the attributes given, times kept as epoch milliseconds.
 * The spans are ReadableSpans: they go through the same bounded queue and
 * batch processor as the app's SDK spans.
 */
export class ServerSpanFactory {
  constructor(
    private readonly sampler: Sampler,
    private readonly ids: IdGenerator,
    private readonly resource: Resource,
    private readonly scope: InstrumentationScope,
    private readonly processor: SpanProcessor,
    private readonly limits: SpanLimits,
  ) {}

  /** A SERVER span (recording or not, as the sampler decides) starting at `startMs` (epoch ms). */
  start(name: string, attributes: Attributes, startMs: number, parent: Context): Span {
    const parentSpan = trace.getSpanContext(parent);
    const valid = parentSpan !== undefined && trace.isSpanContextValid(parentSpan);
    const traceId = valid ? parentSpan.traceId : this.ids.generateTraceId();
    const spanId = this.ids.generateSpanId();
    const sampling = this.sampler.shouldSample(parent, traceId, name, SpanKind.SERVER, attributes, NO_LINKS);
    const traceState = sampling.traceState ?? (valid ? parentSpan.traceState : undefined);
    const sampled = sampling.decision === SamplingDecision.RECORD_AND_SAMPLED;
    const context: SpanContext = { traceId, spanId, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, traceState };
    if (sampling.decision === SamplingDecision.NOT_RECORD) return trace.wrapSpanContext(context);
    if (sampling.attributes) Object.assign(attributes, sampling.attributes);
    const limit = this.limits.attributeValueLengthLimit;
    if (limit !== Infinity) for (const key of Object.keys(attributes)) attributes[key] = truncate(attributes[key]!, limit);
    return new ServerSpan(context, valid ? parentSpan : undefined, name, attributes, startMs, this);
  }

  /** @internal */ end(span: ServerSpan): void {
    this.processor.onEnd(span);
  }
  /** @internal */ get spanResource(): Resource {
    return this.resource;
  }
  /** @internal */ get spanScope(): InstrumentationScope {
    return this.scope;
  }
  /** @internal */ get spanLimits(): SpanLimits {
    return this.limits;
  }
}

/** One SERVER span: the API's Span for the app (it may enrich the active span), a ReadableSpan for export. */
export class ServerSpan implements Span, ReadableSpan {
  readonly kind = SpanKind.SERVER;
  readonly links: Link[] = NO_LINKS;
  events: TimedEvent[] = NO_EVENTS;
  status: SpanStatus = UNSET;
  /** Epoch milliseconds, fractional; 0 until ended. */
  endMs = 0;
  ended = false;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  private attributeCount: number;

  constructor(
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    public name: string,
    /** Owned by the span from here on. */
    readonly attributes: Attributes,
    /** Epoch milliseconds, fractional. */
    readonly startMs: number,
    private readonly factory: ServerSpanFactory,
  ) {
    this.attributeCount = Object.keys(attributes).length;
  }

  spanContext(): SpanContext {
    return this.context;
  }

  get resource(): Resource {
    return this.factory.spanResource;
  }
  get instrumentationScope(): InstrumentationScope {
    return this.factory.spanScope;
  }
  get startTime(): HrTime {
    return msToHrTime(this.startMs);
  }
  get endTime(): HrTime {
    return msToHrTime(this.endMs);
  }
  get duration(): HrTime {
    return msToHrTime(Math.max(0, this.endMs - this.startMs));
  }

  isRecording(): boolean {
    return !this.ended;
  }

  setAttribute(key: string, value: AttributeValue | undefined): this {
    if (this.ended || value === undefined || value === null || key === '') return this;
    if (!isAttributeValue(value)) {
      diag.warn(`Invalid attribute value set for key: ${key}`);
      return this;
    }
    const attributes = this.attributes;
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) {
      if (this.attributeCount >= this.factory.spanLimits.attributeCountLimit) {
        this.droppedAttributesCount++;
        return this;
      }
      this.attributeCount++;
    }
    attributes[key] = truncate(value, this.factory.spanLimits.attributeValueLengthLimit);
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key of Object.keys(attributes)) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    if (this.ended) return this;
    let attributes: Attributes | undefined;
    if (isTimeInput(attributesOrTime)) {
      time = attributesOrTime;
    } else {
      attributes = attributesOrTime;
    }
    if (this.events === NO_EVENTS) this.events = [];
    if (this.events.length >= this.factory.spanLimits.eventCountLimit) {
      this.events.shift();
      this.droppedEventsCount++;
    }
    this.events.push({ name, attributes: attributes ?? {}, time: msToHrTime(toMs(time)), droppedAttributesCount: 0 });
    return this;
  }

  addLink(_link: Link): this {
    this.droppedLinksCount++;
    return this;
  }

  addLinks(links: Link[]): this {
    this.droppedLinksCount += links.length;
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.ended) return this;
    // OK is final; UNSET never overrides (the spec's rules, as the SDK applies them).
    if (this.status.code === SpanStatusCode.OK || status.code === SpanStatusCode.UNSET) return this;
    this.status = status.code === SpanStatusCode.ERROR && typeof status.message === 'string' ? { code: status.code, message: status.message } : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.name = name;
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception;
    } else if (exception) {
      if (exception.code !== undefined) attributes['exception.type'] = String(exception.code);
      else if (exception.name) attributes['exception.type'] = exception.name;
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    if (attributes['exception.type'] !== undefined || attributes['exception.message'] !== undefined) {
      this.addEvent('exception', attributes, time);
    }
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.endMs = Math.max(this.startMs, toMs(endTime));
    this.ended = true;
    this.factory.end(this);
  }
}

/** Epoch milliseconds → [seconds, nanoseconds]. */
export function msToHrTime(ms: number): HrTime {
  let seconds = Math.floor(ms / 1000);
  let nanos = Math.round((ms - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

/** Any TimeInput (epoch ms, performance.now() ms, HrTime, Date) → epoch ms. */
function toMs(time: TimeInput | undefined): number {
  if (time === undefined) return nowMs();
  if (typeof time === 'number') return time <= performance.now() ? time + performance.timeOrigin : time;
  if (time instanceof Date) return time.getTime();
  return time[0] * 1000 + time[1] / 1e6;
}

function isTimeInput(value: unknown): value is TimeInput {
  return typeof value === 'number' || value instanceof Date || (Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'number');
}

function isAttributeValue(value: unknown): value is AttributeValue {
  if (Array.isArray(value)) return value.every((v) => v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v));
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function truncate(value: AttributeValue, limit: number): AttributeValue {
  if (limit === Infinity || limit <= 0) return value;
  if (typeof value === 'string') return value.length > limit ? value.slice(0, limit) : value;
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' && v.length > limit ? v.slice(0, limit) : v)) as AttributeValue;
  return value;
}
