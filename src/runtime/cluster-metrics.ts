/**
 * Metrics with several workers. A scrape lands on whichever worker
 * round-robin picks; that worker asks the supervisor, which gathers every
 * worker's registry through prom-client's AggregatorRegistry (cluster IPC)
 * and answers with the whole server's metrics. Series keep their worker_id
 * label, so `sum()` in Prometheus gives the server's totals.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Registry } from 'prom-client';

const REQUEST = 'metrics-request';
const RESPONSE = 'metrics-response';
const TIMEOUT_MS = 5000;

interface MetricsRequest {
  pounce: typeof REQUEST;
  id: number;
}
interface MetricsResponse {
  pounce: typeof RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

/** Supervisor side: answer workers' metrics requests with the aggregate. */
export async function serveClusterMetrics(): Promise<void> {
  const { AggregatorRegistry } = await import('prom-client');
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker: Worker, msg: unknown) => {
    const request = msg as Partial<MetricsRequest> | null;
    if (request?.pounce !== REQUEST || typeof request.id !== 'number') return;
    const id = request.id;
    const reply = (body: Omit<MetricsResponse, 'pounce' | 'id'>) => {
      if (worker.isConnected()) worker.send({ pounce: RESPONSE, id, ...body } satisfies MetricsResponse, undefined, () => {});
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: Error) => reply({ error: err.message }),
    );
  });
}

/** Worker side: expose this worker's registry to the aggregator, and fetch the aggregate for a scrape. */
export async function clusterMetricsSource(registry: Registry): Promise<() => Promise<string>> {
  const { AggregatorRegistry } = await import('prom-client');
  // Constructing one installs prom-client's worker-side listener that answers the aggregator.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let nextId = 1;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  process.on('message', (msg: unknown) => {
    const response = msg as Partial<MetricsResponse> | null;
    if (response?.pounce !== RESPONSE || typeof response.id !== 'number') return;
    const waiter = pending.get(response.id);
    if (!waiter) return;
    pending.delete(response.id);
    if (typeof response.text === 'string') waiter.resolve(response.text);
    else waiter.reject(new Error(response.error ?? 'no metrics from the supervisor'));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the supervisor did not answer in time'));
      }, TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      process.send!({ pounce: REQUEST, id } satisfies MetricsRequest);
    });
}
