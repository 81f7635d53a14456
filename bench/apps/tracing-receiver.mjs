// A stand-in OTLP/HTTP collector for the tracing benchmark: accepts POST
// /v1/traces (http/protobuf or http/json) on 127.0.0.1 and answers at once,
// keeping the bodies; spans are counted only when /stats is asked (between
// runs), so that decoding never competes with the load generator.
// GET /stats → {"exports":N,"spans":N,"bytes":N,"protobuf":N,"json":N}. Listens on PORT (or one the
// OS chooses) and prints {"port":N} when ready.
import { createServer } from 'node:http';
import protobuf from 'protobufjs';

// Just enough of opentelemetry-proto to count spans (each span stays undecoded bytes).
const Request = protobuf
  .parse(`syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { repeated ScopeSpans scope_spans = 2; }
message ScopeSpans { repeated bytes spans = 2; }`)
  .root.lookupType('ExportTraceServiceRequest');
const marker = Buffer.from('"spanId"');

const stats = { exports: 0, spans: 0, bytes: 0, protobuf: 0, json: 0 };
let pending = [];

function count() {
  for (const { json, body } of pending) {
    if (json) {
      for (let i = body.indexOf(marker); i !== -1; i = body.indexOf(marker, i + marker.length)) stats.spans++;
    } else {
      for (const rs of Request.decode(body).resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) stats.spans += ss.spans?.length ?? 0;
    }
  }
  pending = [];
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    count();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  const json = (req.headers['content-type'] ?? '').startsWith('application/json');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    stats.exports++;
    stats.bytes += body.length;
    stats[json ? 'json' : 'protobuf']++;
    if (req.url === '/v1/traces') pending.push({ json, body });
    if (json) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    } else {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
