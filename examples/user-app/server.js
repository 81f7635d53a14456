// A user's app, as a team would write it: its own folder, its own package.json
// with `pounce` as a dependency (npm i pounce), served by `pounce server.js`.
// Deploy it three ways (README "Deploy"): its own image (Dockerfile), FROM
// pounce's image (Dockerfile.from-pounce), or with the Helm chart (app.module).
import { currentRequest } from 'pounce';

const started = Date.now();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const req = currentRequest();
    if (url.pathname === '/') {
      // Joins the lifecycle trail: this line carries the request's connection_id
      // (and trace_id when tracing is on).
      req?.log.info({ user_agent: request.headers.get('user-agent') }, 'hello from my app');
      return Response.json({ hello: 'world', connection_id: req?.connectionId ?? null, worker_id: req?.workerId ?? null });
    }
    if (url.pathname === '/uptime') return Response.json({ uptime_s: (Date.now() - started) / 1000 });
    return new Response('not found\n', { status: 404 });
  },
};
