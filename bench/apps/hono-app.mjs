// A small Hono app with a few routes (static, params, JSON in and out), served
// by pounce (`pounce bench/apps/hono-app.mjs`) and by @hono/node-server
// (bench/apps/hono-app-node-server.mjs). The load hits /users/:id (a param and
// a JSON body); GET / answers the runner's Hello, World! probe.
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('Hello, World!'));
app.get('/health', (c) => c.json({ ok: true }));
app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), name: `user ${c.req.param('id')}`, tags: ['a', 'b'] }));
app.get('/users/:id/posts/:post', (c) => c.json({ user: c.req.param('id'), post: c.req.param('post'), q: c.req.query('q') ?? null }));
app.post('/users', async (c) => c.json({ created: await c.req.json() }, 201));
app.notFound((c) => c.text('not found', 404));
export default app;
