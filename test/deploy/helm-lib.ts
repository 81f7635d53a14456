// Rendering the Helm chart with the real helm and validating what it renders:
// shared by helm.test.ts, helm-values.test.ts and user-app.test.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { Ajv } from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IContainer, IEnvVar, IProbe } from 'kubernetes-models/v1';
import { repoRoot } from './shipped-fields.js';

export const HELM = path.join(repoRoot, '.tools', 'bin', 'helm');
export const CHART = path.join(repoRoot, 'charts', 'pounce');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: unknown;
  [k: string]: unknown;
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): Run {
  if (!existsSync(HELM)) {
    throw new Error(`helm not found at ${HELM}: npm test installs it (pretest: node test/tools/ensure.mjs)`);
  }
  const r = spawnSync(HELM, args, { encoding: 'utf8', cwd: repoRoot, timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** --set flags from a flat record; --set-json for non-strings, so numbers stay numbers. */
export function setArgs(sets: Record<string, string | number | boolean> = {}): string[] {
  return Object.entries(sets).flatMap(([k, v]) => (typeof v === 'string' ? ['--set', `${k}=${v}`] : ['--set-json', `${k}=${JSON.stringify(v)}`]));
}

export type Sets = Record<string, string | number | boolean>;
const rendered = new Map<string, string>();

/** helm template (release "pounce", namespace "web") with these --set values and, optionally, a values file; parsed. */
export function render(sets: Sets = {}, values?: unknown): K8sObject[] {
  return parseRendered(renderText(sets, values));
}

/** The raw YAML helm template prints; each distinct value set is rendered once. */
export function renderText(sets: Sets = {}, values?: unknown): string {
  const key = JSON.stringify([sets, values ?? null]);
  const cached = rendered.get(key);
  if (cached !== undefined) return cached;
  const r = helmWithValues(['template', 'pounce', CHART, '--namespace', 'web', ...setArgs(sets)], values);
  expect(r.status, `helm template failed:\n${r.stderr}`).to.equal(0);
  rendered.set(key, r.stdout);
  return r.stdout;
}

/** helm with a values file written from `values` (when given) added to the arguments. */
export function helmWithValues(args: string[], values?: unknown): Run {
  if (values === undefined) return helm(args);
  const dir = mkdtempSync(path.join(tmpdir(), 'pounce-values-'));
  try {
    const file = path.join(dir, 'values.yaml');
    writeFileSync(file, YAML.stringify(values));
    return helm([...args, '-f', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseRendered(stdout: string): K8sObject[] {
  const docs = YAML.parseAllDocuments(stdout);
  for (const d of docs) expect(d.errors, `rendered YAML does not parse: ${d.errors.join('; ')}`).to.deep.equal([]);
  return docs.map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

export const ALL_FEATURES = {
  'ingress.enabled': true,
  'ingress.className': 'nginx',
  'ingress.tls[0].secretName': 'pounce-tls',
  'ingress.tls[0].hosts[0]': 'pounce.example.com',
  'autoscaling.enabled': true,
  'autoscaling.targetMemoryUtilizationPercentage': 80,
  'podDisruptionBudget.enabled': true,
  'metrics.enabled': true,
  'metrics.serviceMonitor.enabled': true,
  'metrics.serviceMonitor.labels.release': 'prometheus',
  'otel.endpoint': 'http://otel-collector.observability:4318',
  'otel.serviceName': 'shop-api',
  'logShipping.datadog': true,
} as const;

// ServiceMonitor is a CRD (monitoring.coreos.com/v1) that kubernetes-models
// does not ship: this is the part of its schema the chart uses.
const serviceMonitorSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'monitoring.coreos.com/v1' },
    kind: { const: 'ServiceMonitor' },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string', minLength: 1 }, namespace: { type: 'string' }, labels: { type: 'object', additionalProperties: { type: 'string' } } },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['selector', 'endpoints'],
      properties: {
        jobLabel: { type: 'string' },
        selector: {
          type: 'object',
          properties: { matchLabels: { type: 'object', minProperties: 1, additionalProperties: { type: 'string' } } },
          required: ['matchLabels'],
        },
        namespaceSelector: { type: 'object', properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } } },
        endpoints: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              port: { type: 'string' },
              targetPort: { type: ['string', 'integer'] },
              path: { type: 'string', pattern: '^/' },
              scheme: { enum: ['http', 'https'] },
              interval: { type: 'string', pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' },
              scrapeTimeout: { type: 'string', pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' },
              relabelings: { type: 'array' },
              metricRelabelings: { type: 'array' },
            },
          },
        },
      },
    },
  },
};
const validateServiceMonitor = new Ajv({ allErrors: true, strict: false }).compile(serviceMonitorSchema);

/** Validates one rendered object against its Kubernetes schema; throws with the object's kind/name. */
export function validate(obj: K8sObject): void {
  const id = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}`;
  const model = (() => {
    switch (`${obj.apiVersion}/${obj.kind}`) {
      case 'apps/v1/Deployment':
        return new Deployment(obj as never);
      case 'v1/Service':
        return new Service(obj as never);
      case 'v1/ServiceAccount':
        return new ServiceAccount(obj as never);
      case 'v1/Pod':
        return new Pod(obj as never);
      case 'networking.k8s.io/v1/Ingress':
        return new Ingress(obj as never);
      case 'autoscaling/v2/HorizontalPodAutoscaler':
        return new HorizontalPodAutoscaler(obj as never);
      case 'policy/v1/PodDisruptionBudget':
        return new PodDisruptionBudget(obj as never);
      case 'networking.k8s.io/v1/NetworkPolicy':
        return new NetworkPolicy(obj as never);
      case 'v1/ConfigMap':
        return new ConfigMap(obj as never);
      case 'monitoring.coreos.com/v1/ServiceMonitor':
        return null;
      default:
        throw new Error(`no schema for rendered object ${id}`);
    }
  })();
  if (model === null) {
    expect(validateServiceMonitor(obj), `${id}: ${JSON.stringify(validateServiceMonitor.errors)}`).to.equal(true);
  } else {
    try {
      model.validate();
    } catch (e) {
      throw new Error(`${id} is not valid: ${(e as Error).message}`);
    }
  }
  // names and label values must be valid DNS labels / label values
  expect(obj.metadata.name, id).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  for (const v of Object.values(obj.metadata.labels ?? {})) expect(v, `${id} label value`).to.match(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);
}

export function find(objs: K8sObject[], kind: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind);
}

export function deployment(objs: K8sObject[]): Deployment {
  const deps = find(objs, 'Deployment');
  expect(deps).to.have.length(1);
  return new Deployment(deps[0] as never);
}

export function container(objs: K8sObject[]): IContainer {
  const c = deployment(objs).spec?.template.spec?.containers[0];
  if (!c) throw new Error('no container in the Deployment');
  return c;
}

export function env(c: IContainer): Map<string, IEnvVar> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

export function envValue(c: IContainer, name: string): string | undefined {
  return env(c).get(name)?.value;
}

export function probePath(p: IProbe | undefined): string | undefined {
  return p?.httpGet?.path;
}

