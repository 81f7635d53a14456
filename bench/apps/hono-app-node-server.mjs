// Peer: @hono/node-server (its defaults) serving bench/apps/hono-app.mjs. PORT from the environment.
import { serve } from '@hono/node-server';
import app from './hono-app.mjs';

const port = Number(process.env.PORT ?? 8000);
const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
