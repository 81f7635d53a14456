// Bare node:http serving the benchmark's hello handler on 127.0.0.1, on PORT
// (or one the OS chooses), printed as one JSON line: {"port":N}.
// Run with `--require ./tracing-otel-preload.cjs` for the
// @opentelemetry/instrumentation-http variant.
import { createServer } from 'node:http';
import hello from './tracing-hello.mjs';

const server = createServer(hello);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
const stop = () => server.close(() => process.exit(0)).closeAllConnections();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
