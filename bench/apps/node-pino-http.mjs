// Peer: node:http + pino-http, one JSON line per request on stdout (the runner
// redirects stdout to a file). PORT from the environment.
import { createServer } from 'node:http';
import { importPeer } from './peer.mjs';
import hello from './hello-node.mjs';

const port = Number(process.env.PORT ?? 8000);
const pinoHttp = await importPeer('pino-http');
const logger = pinoHttp();
const server = createServer((req, res) => {
  logger(req, res);
  hello(req, res);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
