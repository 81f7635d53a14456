// Baseline: bare node:http serving the hello handler. PORT from the environment.
import { createServer } from 'node:http';
import hello from './hello-node.mjs';

const port = Number(process.env.PORT ?? 8000);
const server = createServer(hello);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
