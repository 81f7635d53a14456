// The usual way to trace a bare node:http server: NodeTracerProvider,
// BatchSpanProcessor, OTLP/HTTP exporter, @opentelemetry/instrumentation-http
// (monkey patching http), loaded with `node --require` before the app.
// Spans go to BENCH_OTLP_URL (a full /v1/traces URL); 100% sampled.
'use strict';
const { NodeTracerProvider, BatchSpanProcessor, AlwaysOnSampler } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const url = process.env.BENCH_OTLP_URL;
if (!url) throw new Error('BENCH_OTLP_URL is not set');
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'bare-instrumentation-http' }),
  sampler: new AlwaysOnSampler(),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
});
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });
// Load http now, through the patched require, so the server the app creates is instrumented.
require('http');
process.on('SIGTERM', () => void provider.shutdown());
