import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer as createNetServer } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = resolve(ROOT, 'dist/cli.js');
export const FIXTURES = resolve(ROOT, 'test/fixtures');

export type LogLine = Record<string, any> & { event?: string; level: string; logger: string; msg: string };

export interface StartOptions {
  /** App spec relative to test/fixtures (or absolute / examples path). */
  app?: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  /** Wait for this before resolving (default: the ServerStarted line). */
  ready?: (line: LogLine) => boolean;
  /** Do not add --log-format json (to test the text format). */
  rawFormat?: boolean;
}

/** A real pounce process, its stdout parsed line by line as JSON. */
export class PounceProcess {
  readonly lines: LogLine[] = [];
  /** Lines on stdout that were not JSON (must stay empty in json mode). */
  readonly nonJson: string[] = [];
  stdoutText = '';
  stderr = '';
  port = 0;
  url = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private partial = '';

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => this.onData(chunk));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exit = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  }

  private onData(chunk: string): void {
    this.stdoutText += chunk;
    const text = this.partial + chunk;
    const parts = text.split('\n');
    this.partial = parts.pop()!;
    for (const raw of parts) {
      if (raw === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        this.nonJson.push(raw);
        continue;
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    }
  }

  /** Resolves with the first line (past or future) matching pred. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 10_000, what = 'a matching log line'): Promise<LogLine> {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr.slice(-2000)}; last lines: ${JSON.stringify(this.lines.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolvePromise(l);
        },
      });
      void this.exit.then(() => {
        setTimeout(() => {
          clearTimeout(timer);
          reject(new Error(`pounce exited while waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`));
        }, 50);
      });
    });
  }

  waitForEvent(event: string, extra: (l: LogLine) => boolean = () => true, timeoutMs = 10_000): Promise<LogLine> {
    return this.waitFor((l) => l.event === event && extra(l), timeoutMs, `event ${event}`);
  }

  events(event?: string): LogLine[] {
    return this.lines.filter((l) => l.logger === 'pounce.lifecycle' && (event === undefined || l.event === event));
  }

  /** Lifecycle events of one connection, in log order. */
  connectionEvents(connectionId: number): LogLine[] {
    return this.events().filter((l) => l.connection_id === connectionId);
  }

  /** Send a signal and wait for exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const result = await this.exit;
    clearTimeout(timer);
    // Let the stdout pipe drain fully.
    if (!this.proc.stdout!.readableEnded) await once(this.proc.stdout!, 'end').catch(() => {});
    return result;
  }
}

const running = new Set<PounceProcess>();

/** Spawn `node dist/cli.js <app> --port 0 --log-format json ...` and wait until it serves. */
export async function startPounce(options: StartOptions = {}): Promise<PounceProcess> {
  const app = options.app === undefined ? [] : [options.app.startsWith('/') || options.app.startsWith('examples/') ? options.app : resolve(FIXTURES, options.app)];
  const args = [CLI, ...app, '--port', '0', ...(options.rawFormat ? [] : ['--log-format', 'json']), ...(options.args ?? [])];
  const env: Record<string, string | undefined> = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('POUNCE_') || key.startsWith('OTEL_')) delete env[key];
  Object.assign(env, options.env ?? {});
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = new PounceProcess(proc);
  running.add(p);
  void p.exit.then(() => running.delete(p));
  if (options.rawFormat) {
    // Text logs: read the port from the human banner.
    const banner = /serving .* on http:\/\/[^\s]+:(\d+)/;
    for (let i = 0; i < 750 && !banner.test(p.stdoutText); i++) {
      if (proc.exitCode !== null) throw new Error(`pounce exited: ${p.stderr}`);
      await sleep(20);
    }
    p.port = Number(banner.exec(p.stdoutText)?.[1]);
    p.url = `http://127.0.0.1:${p.port}`;
    return p;
  }
  const started = await p.waitFor(options.ready ?? ((l) => l.event === 'ServerStarted'), 15_000, 'ServerStarted');
  if (typeof started.port === 'number') {
    p.port = started.port;
    p.url = `http://127.0.0.1:${started.port}`;
  }
  return p;
}

/** Run pounce to completion (for start-up errors): exit code, stdout, stderr. */
export async function runPounce(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000) {
  const cleanEnv: Record<string, string | undefined> = { ...process.env };
  for (const key of Object.keys(cleanEnv)) if (key.startsWith('POUNCE_') || key.startsWith('OTEL_')) delete cleanEnv[key];
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...cleanEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Kill every pounce a test left running (mocha root hook). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
}

/**
 * Open a raw TCP connection, write `data` (string or chunks with delays),
 * and collect everything the server sends until it closes the connection.
 */
export async function rawExchange(
  port: number,
  data: string | Buffer | Array<string | Buffer | number>,
  options: { timeoutMs?: number; endAfterWrite?: boolean } = {},
): Promise<{ response: string; closedBy: 'server' | 'timeout' }> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  let response = '';
  socket.on('data', (c: string) => (response += c));
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => 'server' as const);
  await once(socket, 'connect');
  const parts = Array.isArray(data) ? data : [data];
  for (const part of parts) {
    if (typeof part === 'number') await new Promise((r) => setTimeout(r, part));
    else if (!socket.destroyed) socket.write(part);
  }
  if (options.endAfterWrite) socket.end();
  const timeoutMs = options.timeoutMs ?? 5000;
  const closedBy = await Promise.race([
    closed,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs)),
  ]);
  socket.destroy();
  return { response, closedBy };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A TCP port free on 127.0.0.1 right now (for a helper server such as Prometheus). */
export async function freePort(): Promise<number> {
  const server = createNetServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}
