// A stand-in OTLP/HTTP collector for the tracing benchmark: accepts POST
// /v1/traces on 127.0.0.1 and answers {} (nothing is stored). It counts the
// spans it got (a cheap substring count, not a JSON parse, to stay light).
// GET /stats → {"exports":N,"spans":N,"bytes":N}. Prints {"port":N} when ready.
import { createServer } from 'node:http';

const stats = { exports: 0, spans: 0, bytes: 0 };
const marker = Buffer.from('"spanId"');

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    stats.exports++;
    stats.bytes += body.length;
    for (let i = body.indexOf(marker); i !== -1; i = body.indexOf(marker, i + marker.length)) stats.spans++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
