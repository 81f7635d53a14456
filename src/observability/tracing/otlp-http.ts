import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { gzip } from 'node:zlib';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, parseKeyPairsIntoRecord, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { encodeTraceRequest } from './otlp-json.js';

export interface OtlpHttpOptions {
  /** Full traces URL (…/v1/traces). */
  url: string;
  userAgent: string;
  env?: NodeJS.ProcessEnv;
  /** The collector accepted the export but rejected some spans (OTLP partial success). */
  onPartialSuccess?: (rejected: number, message: string) => void;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const RETRYABLE_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETDOWN', 'ENETUNREACH', 'EHOSTUNREACH']);
const MAX_ATTEMPTS = 5;
const MAX_IN_FLIGHT = 4;
const POOL_BUFFER_BYTES = 256 * 1024;

class ExportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'OTLPExportError';
  }
}

/**
 * OTLP/HTTP JSON span exporter: POST <url> with the ExportTraceServiceRequest.
 *
 * Behaves like @opentelemetry/exporter-trace-otlp-http (same document, same
 * OTEL_EXPORTER_OTLP_[TRACES_]{HEADERS,TIMEOUT,COMPRESSION,CERTIFICATE,
 * CLIENT_KEY,CLIENT_CERTIFICATE} variables, keep-alive connections, retries
 * with backoff on 429/502/503/504 and network errors within the timeout) but
 * encodes into reusable buffers (see otlp-json.ts): at full sampling the
 * export is most of what tracing costs, and this is most of the export.
 * Never throws; every outcome goes to the result callback.
 */
export class OtlpHttpJsonExporter implements SpanExporter {
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly gzip: boolean;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  /** Encoding buffers not in use; one is taken per export until its request is done. */
  private readonly pool: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private readonly onPartialSuccess: ((rejected: number, message: string) => void) | undefined;

  constructor(options: OtlpHttpOptions) {
    this.onPartialSuccess = options.onPartialSuccess;
    const env = options.env ?? process.env;
    const get = (name: string) => env[`OTEL_EXPORTER_OTLP_TRACES_${name}`]?.trim() || env[`OTEL_EXPORTER_OTLP_${name}`]?.trim() || undefined;
    this.url = new URL(options.url);
    this.headers = {
      ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_HEADERS),
      ...parseKeyPairsIntoRecord(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
      'content-type': 'application/json',
      'user-agent': options.userAgent,
    };
    const timeout = Number(get('TIMEOUT'));
    this.timeoutMs = Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000;
    this.gzip = get('COMPRESSION') === 'gzip';
    const file = (name: string) => {
      const path = get(name);
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        // As the OpenTelemetry exporters do: say so (an OtelDiagnostic line) and go on without it.
        diag.warn(`OTEL_EXPORTER_OTLP_[TRACES_]${name}: cannot read ${path}: ${(err as Error).message}`);
        return undefined;
      }
    };
    if (this.url.protocol === 'https:') {
      this.agent = new HttpsAgent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT, ca: file('CERTIFICATE'), key: file('CLIENT_KEY'), cert: file('CLIENT_CERTIFICATE') });
      this.send = httpsRequest;
    } else {
      this.agent = new HttpAgent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
      this.send = httpRequest;
    }
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) return resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
    if (this.inFlight.size >= MAX_IN_FLIGHT) return resultCallback({ code: ExportResultCode.FAILED, error: new Error('concurrent export limit reached') });
    let encoded: { buffer: Buffer; length: number };
    const pooled = this.pool.pop() ?? Buffer.allocUnsafeSlow(POOL_BUFFER_BYTES);
    try {
      encoded = encodeTraceRequest(spans, pooled);
    } catch (err) {
      this.pool.push(pooled);
      return resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
    }
    const done = this.deliver(encoded.buffer.subarray(0, encoded.length)).then(
      () => resultCallback({ code: ExportResultCode.SUCCESS }),
      (err: unknown) => resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) }),
    );
    const tracked = done.finally(() => {
      this.inFlight.delete(tracked);
      // Back to the pool once no request can still be reading from it (a grown buffer replaces the small one).
      if (this.pool.length < MAX_IN_FLIGHT) this.pool.push(encoded.buffer.length <= 4 * 1024 * 1024 ? encoded.buffer : pooled);
    });
    this.inFlight.add(tracked);
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.forceFlush();
    this.agent.destroy();
  }

  /** Send one document, retrying what is worth retrying until the timeout. */
  private async deliver(body: Buffer): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    const payload = this.gzip ? await gzipped(body) : body;
    let backoff = 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.post(payload, deadline - Date.now());
        return;
      } catch (err) {
        const retryable = err instanceof ExportError ? err.retryable : RETRYABLE_NETWORK.has((err as NodeJS.ErrnoException).code ?? '');
        if (!retryable || attempt >= MAX_ATTEMPTS || this.stopped) throw err;
        const wait = err instanceof ExportError && err.retryAfterMs !== undefined ? err.retryAfterMs : backoff * (0.8 + Math.random() * 0.4);
        backoff = Math.min(backoff * 1.5, 5000);
        if (Date.now() + wait >= deadline) throw err;
        await new Promise<void>((resolve) => setTimeout(resolve, wait).unref());
      }
    }
  }

  private post(payload: Buffer, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (timeoutMs <= 0) return reject(new ExportError('export timed out', false));
      const headers: Record<string, string | number> = { ...this.headers, 'content-length': payload.length };
      if (this.gzip) headers['content-encoding'] = 'gzip';
      const req = this.send(this.url, { method: 'POST', agent: this.agent, headers }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 64 * 1024) chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            const rejected = rejectedSpans(Buffer.concat(chunks));
            if (rejected) this.onPartialSuccess?.(rejected.count, `collector rejected ${rejected.count} span(s): ${rejected.message}`);
            resolve();
            return;
          }
          const retryAfter = retryAfterMs(res.headers['retry-after']);
          const text = Buffer.concat(chunks).toString('utf8', 0, Math.min(size, 200)).trim();
          reject(new ExportError(`HTTP ${status} ${res.statusMessage ?? ''}${text ? `: ${text}` : ''}`.trim(), RETRYABLE_STATUS.has(status), retryAfter));
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${Math.round(timeoutMs)} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function gzipped(body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => gzip(body, (err, out) => (err ? reject(err) : resolve(out))));
}

function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A 2xx answer may still be a partial success: `{"partialSuccess":{"rejectedSpans":N,"errorMessage":"…"}}`. */
function rejectedSpans(body: Buffer): { count: number; message: string } | undefined {
  if (body.length < 20) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { partialSuccess?: { rejectedSpans?: number | string; errorMessage?: string } };
    const count = Number(parsed.partialSuccess?.rejectedSpans ?? 0);
    return count > 0 ? { count, message: parsed.partialSuccess?.errorMessage ?? '' } : undefined;
  } catch {
    return undefined;
  }
}
