// Peer: @hono/node-server (its defaults, as its README runs it) serving the same
// fetch handler as pounce's fetch variant (bench/apps/hello-fetch.mjs). PORT from the environment.
import { serve } from '@hono/node-server';
import app from './hello-fetch.mjs';

const port = Number(process.env.PORT ?? 8000);
const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
