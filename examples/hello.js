// The bundled example: a web-standard fetch handler (the shape Hono and Bun use).
// Try: curl localhost:8000/ ; curl localhost:8000/slow?ms=2500 ; curl -N localhost:8000/events
import { currentRequest } from '../dist/index.js';

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/slow') {
      const ms = Math.min(Number(url.searchParams.get('ms') ?? 2000), 60_000);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return Response.json({ slept_ms: ms });
    }
    if (url.pathname === '/events') {
      let n = 0;
      const encoder = new TextEncoder();
      const stream = new ReadableStream({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          controller.enqueue(encoder.encode(`data: tick ${++n}\n\n`));
          if (n === 5) controller.close();
        },
      });
      return new Response(stream, { headers: { 'content-type': 'text/event-stream' } });
    }
    if (url.pathname === '/whoami') {
      const ctx = currentRequest();
      ctx?.log.info({ path: url.pathname }, 'whoami called');
      return Response.json({ connection_id: ctx?.connectionId, worker_id: ctx?.workerId, trace_id: ctx?.traceId ?? null });
    }
    return new Response('Hello from pounce\n', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
};
