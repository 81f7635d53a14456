// Reading Dockerfiles (instructions, stages, ENV, exec-form commands) and
// linting them with the real dockerlinter: shared by dockerfile.test.ts and
// user-app.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from './shipped-fields.js';

export const DOCKERLINTER = path.join(repoRoot, '.tools', 'dockerlinter', 'node_modules', 'dockerlinter', 'bin', 'dockerfilelinter.js');
export const DOCKERFILE = path.join(repoRoot, 'Dockerfile');

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile -> instructions (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] as string;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i] as string;
      if (/^\s*#/.test(next)) continue;
      line = line.replace(/\\\s*$/, ' ') + next.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (m) out.push({ keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim(), line: start + 1 });
  }
  return out;
}

export function stages(instructions: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      out.push({ from: m?.[1] ?? ins.args, name: m?.[2], instructions: [] });
    } else out.at(-1)?.instructions.push(ins);
  }
  return out;
}

export function runDockerlinter(file: string): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(DOCKERLINTER)) {
    throw new Error(`dockerlinter not found at ${DOCKERLINTER}: npm test installs it (pretest: node test/tools/ensure.mjs)`);
  }
  // dockerlinter writes temp<line>.sh files into its working directory for ShellCheck
  const cwd = mkdtempSync(path.join(tmpdir(), 'dockerlinter-'));
  try {
    const r = spawnSync(process.execPath, [DOCKERLINTER, '-f', file, '-j', '-e', 'info'], { cwd, encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}


export function only(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `exec form: ${args}`).to.equal(true);
  return parsed as string[];
}

/** ENV of a stage (later wins), with ${VAR}/$VAR expanded from `base` and earlier values. */
export function stageEnv(stage: Stage, base: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { ...base };
  for (const ins of only(stage, 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      const raw = (m[2] as string).replace(/^"|"$/g, '');
      env[m[1] as string] = raw.replace(/\$\{(\w+)\}|\$(\w+)/g, (_a, x: string | undefined, y: string | undefined) => env[(x ?? y) as string] ?? '');
    }
  }
  return env;
}

/** A Dockerfile read: instructions, stages, the final stage. */
export function readDockerfile(text: string): { instructions: Instruction[]; stages: Stage[]; final: Stage } {
  const instructions = parseDockerfile(text);
  const all = stages(instructions);
  return { instructions, stages: all, final: all.at(-1) as Stage };
}
