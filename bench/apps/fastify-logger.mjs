// Peer: fastify with its built-in pino logger on (stdout, redirected to a file
// by the runner): "incoming request" + "request completed", 2 lines per request.
import { importPeer } from './peer.mjs';

const port = Number(process.env.PORT ?? 8000);
const Fastify = await importPeer('fastify');
const app = Fastify({ logger: true });
app.get('/', (request, reply) => {
  reply.type('text/plain').send('Hello, World!');
});
await app.listen({ port, host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
