/**
 * What the supervisor and its workers tell each other (node:cluster IPC), and
 * how a worker learns its identity (environment variables set at fork).
 */

/** Environment of a worker process: its slot (1..N), N, and how many times the slot was started before. */
export const WORKER_ENV = {
  id: 'POUNCE_WORKER_ID',
  count: 'POUNCE_WORKER_COUNT',
  epoch: 'POUNCE_WORKER_EPOCH',
} as const;

const WORKER_ENV_NAMES: ReadonlySet<string> = new Set(Object.values(WORKER_ENV));

/** The environment minus the worker identity variables, which are not options. */
export function withoutWorkerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (!WORKER_ENV_NAMES.has(key)) out[key] = value;
  return out;
}

/**
 * Connection ids: worker k of N hands out k, k+N, k+2N... A slot restarted for
 * the e-th time starts a fresh block of ID_BLOCK ids per worker, so that the
 * old and the new process of one slot (they overlap during a rolling restart)
 * never log the same id: epoch 0 is 1, 2, ..., epoch 1 of 2 workers starts at
 * 2000000001 and 2000000002.
 */
const ID_BLOCK = 1_000_000_000;

export function firstConnectionId(slot: number, count: number, epoch: number): number {
  const epochs = Math.max(1, Math.floor(Number.MAX_SAFE_INTEGER / (count * ID_BLOCK)) - 1);
  return slot + count * ID_BLOCK * (epoch % epochs);
}

export type DrainMode = 'shutdown' | 'restart';

/** Worker → supervisor. */
export type WorkerMessage =
  | { pounce: 'listening'; host: string; port: number; url: string; app: string; interface: string }
  | { pounce: 'startup-failed'; message: string; exitCode: number }
  | { pounce: 'draining'; connectionIds: number[] };

/** Supervisor → worker. */
export type SupervisorMessage = { pounce: 'drain'; mode: DrainMode } | { pounce: 'exit' };

function isPounceMessage(msg: unknown): boolean {
  return typeof msg === 'object' && msg !== null && typeof (msg as { pounce?: unknown }).pounce === 'string';
}

export function isWorkerMessage(msg: unknown): msg is WorkerMessage {
  return isPounceMessage(msg);
}

export function isSupervisorMessage(msg: unknown): msg is SupervisorMessage {
  return isPounceMessage(msg);
}
