// The usual way to trace a bare node:http server: the standard NodeSDK with
// @opentelemetry/instrumentation-http (monkey patching http), loaded with
// `node --require` before the app. Everything else comes from OTEL_* (the
// benchmark sets OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER=always_on,
// OTEL_METRICS_EXPORTER=none, OTEL_LOGS_EXPORTER=none): OTLP over
// http/protobuf, the specification's default, as pounce's own SDK sends.
'use strict';
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const sdk = new NodeSDK({ serviceName: 'bare-instrumentation-http', instrumentations: [new HttpInstrumentation()] });
sdk.start();
// Load http now, through the patched require, so the server the app creates is instrumented.
require('http');
process.on('SIGTERM', () => void sdk.shutdown());
