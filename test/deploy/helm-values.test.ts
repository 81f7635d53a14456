// Every value the chart's schema accepts is rendered: each one is set on its
// own and found where it belongs in the output (the schema and the templates
// can no longer drift apart). Plus the three ways to serve a user's app and the
// pod extension points, every rendered object validated with kubernetes-models.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import type { IContainer, IPodSpec } from 'kubernetes-models/v1';
import { CHART, container, deployment, envValue, find, helm, helmWithValues, render, renderText, validate, type K8sObject } from './helm-lib.js';

type Obj = Record<string, unknown>;
const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as Obj;
const chartValues = YAML.parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as Obj;

/** Leaf paths of the schema: a property without its own `properties`. */
function schemaLeaves(node: Obj, prefix = ''): string[] {
  const props = (node['properties'] ?? {}) as Record<string, Obj>;
  return Object.entries(props).flatMap(([k, v]) => (v['properties'] ? schemaLeaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

/** A values object with `value` at the dotted `leaf`. */
function valuesAt(leaf: string, value: unknown): Obj {
  const out: Obj = {};
  let cur = out;
  const parts = leaf.split('.');
  parts.slice(0, -1).forEach((p) => (cur = cur[p] = {} as Obj));
  cur[parts.at(-1) as string] = value;
  return out;
}

const pod = (objs: K8sObject[]): IPodSpec => deployment(objs).spec?.template.spec as IPodSpec;
const podMeta = (objs: K8sObject[]) => deployment(objs).spec?.template.metadata;
const byKind = (objs: K8sObject[], kind: string): K8sObject => {
  const found = find(objs, kind);
  expect(found, kind).to.have.length(1);
  return found[0] as K8sObject;
};
const spec = (o: K8sObject): Obj => o.spec as Obj;
const MARK = 'x-marker-7f3a';
const hpaTarget = (o: K8sObject[], resource: string): unknown =>
  (spec(byKind(o, 'HorizontalPodAutoscaler'))['metrics'] as { resource: { name: string; target: { averageUtilization: number } } }[]).find((m) => m.resource.name === resource)?.resource.target.averageUtilization;

interface Case {
  /** Values to merge (the leaf itself, and whatever it needs to take effect). */
  values: Obj;
  check: (objs: K8sObject[], text: string) => void;
}

/**
 * One case per schema leaf: set it, and find it in the rendered output. Values
 * the leaf needs to take effect (e.g. ingress.enabled for ingress.className)
 * are set too; the check always looks for the leaf's own value.
 */
const CASES: Record<string, Case> = {
  replicaCount: { values: { replicaCount: 7 }, check: (o) => expect(deployment(o).spec?.replicas).to.equal(7) },
  'image.repository': { values: { image: { repository: 'registry.example.com/shop' } }, check: (o) => expect(container(o).image).to.equal('registry.example.com/shop:0.1.0') },
  'image.tag': { values: { image: { tag: '9.9.9' } }, check: (o) => expect(container(o).image).to.match(/:9\.9\.9$/) },
  'image.digest': { values: { image: { digest: `sha256:${'c'.repeat(64)}` } }, check: (o) => expect(container(o).image).to.match(/@sha256:c{64}$/) },
  'image.pullPolicy': { values: { image: { pullPolicy: 'Always' } }, check: (o) => expect(container(o).imagePullPolicy).to.equal('Always') },
  imagePullSecrets: { values: { imagePullSecrets: [{ name: 'regcred' }] }, check: (o) => expect(pod(o).imagePullSecrets).to.deep.equal([{ name: 'regcred' }]) },
  nameOverride: { values: { nameOverride: 'shop' }, check: (o) => expect(deployment(o).metadata?.labels?.['app.kubernetes.io/name']).to.equal('shop') },
  fullnameOverride: { values: { fullnameOverride: 'shop-api' }, check: (o) => expect(deployment(o).metadata?.name).to.equal('shop-api') },
  commonLabels: {
    values: { commonLabels: { team: 'payments' } },
    check: (o) => {
      for (const obj of o) expect(obj.metadata.labels?.['team'], `${obj.kind} label`).to.equal('payments');
      expect(podMeta(o)?.labels?.['team']).to.equal('payments');
    },
  },
  commonAnnotations: {
    values: { commonAnnotations: { owner: MARK } },
    check: (o) => {
      for (const obj of o) expect(obj.metadata.annotations?.['owner'], `${obj.kind} annotation`).to.equal(MARK);
      expect(podMeta(o)?.annotations?.['owner']).to.equal(MARK);
    },
  },
  'app.module': { values: { app: { module: 'dist/server.js' } }, check: (o) => expect(container(o).args).to.deep.equal(['dist/server.js']) },
  'app.command': { values: { app: { module: 'server.js', command: ['node', 'node_modules/pounce/dist/cli.js'] } }, check: (o) => expect(container(o).command).to.deep.equal(['node', 'node_modules/pounce/dist/cli.js']) },
  extraArgs: { values: { app: { module: 'server.js' }, extraArgs: ['--workers', '4'] }, check: (o) => expect(container(o).args).to.deep.equal(['server.js', '--workers', '4']) },
  healthCheckPath: { values: { healthCheckPath: '/healthz' }, check: (o) => expect(container(o).readinessProbe?.httpGet?.path).to.equal('/healthz') },
  host: { values: { host: '::' }, check: (o) => expect(envValue(container(o), 'POUNCE_HOST')).to.equal('::') },
  workers: { values: { workers: 3 }, check: (o) => expect(envValue(container(o), 'POUNCE_WORKERS')).to.equal('3') },
  logFormat: { values: { logFormat: 'text' }, check: (o) => expect(envValue(container(o), 'POUNCE_LOG_FORMAT')).to.equal('text') },
  logLevel: { values: { logLevel: 'warn' }, check: (o) => expect(envValue(container(o), 'POUNCE_LOG_LEVEL')).to.equal('warn') },
  lifecycleLogging: { values: { lifecycleLogging: false }, check: (o) => expect(envValue(container(o), 'POUNCE_LIFECYCLE_LOGGING')).to.equal('false') },
  logSlowRequestsThreshold: { values: { logSlowRequestsThreshold: 1.5 }, check: (o) => expect(envValue(container(o), 'POUNCE_LOG_SLOW_REQUESTS_THRESHOLD')).to.equal('1.5') },
  accessLog: { values: { accessLog: false }, check: (o) => expect(envValue(container(o), 'POUNCE_ACCESS_LOG')).to.equal('false') },
  keepAliveTimeout: { values: { keepAliveTimeout: 620 }, check: (o) => expect(envValue(container(o), 'POUNCE_KEEP_ALIVE_TIMEOUT')).to.equal('620') },
  forwardedAllowIps: {
    values: { forwardedAllowIps: '10.0.0.0/8,192.168.1.1' },
    check: (o) => expect(envValue(container(o), 'POUNCE_FORWARDED_ALLOW_IPS')).to.equal('10.0.0.0/8,192.168.1.1'),
  },
  drainDelay: { values: { drainDelay: 33 }, check: (o) => expect(envValue(container(o), 'POUNCE_DRAIN_DELAY')).to.equal('33') },
  drainPropagationSeconds: { values: { drainPropagationSeconds: 9 }, check: (o) => expect(envValue(container(o), 'POUNCE_DRAIN_DELAY')).to.equal('19') },
  shutdownTimeout: { values: { shutdownTimeout: 40 }, check: (o) => expect(envValue(container(o), 'POUNCE_SHUTDOWN_TIMEOUT')).to.equal('40') },
  terminationGraceMarginSeconds: { values: { terminationGraceMarginSeconds: 11 }, check: (o) => expect(pod(o).terminationGracePeriodSeconds).to.equal(15 + 25 + 11) },
  'otel.endpoint': { values: { otel: { endpoint: 'http://collector:4318' } }, check: (o) => expect(envValue(container(o), 'POUNCE_OTEL_ENDPOINT')).to.equal('http://collector:4318') },
  'otel.serviceName': { values: { otel: { serviceName: 'shop' } }, check: (o) => expect(envValue(container(o), 'OTEL_SERVICE_NAME')).to.equal('shop') },
  'otel.resourceAttributes': { values: { otel: { resourceAttributes: { 'deployment.environment': 'prod' } } }, check: (o) => expect(envValue(container(o), 'OTEL_RESOURCE_ATTRIBUTES')).to.include('deployment.environment=prod') },
  'metrics.enabled': { values: { metrics: { enabled: false } }, check: (o) => expect(envValue(container(o), 'POUNCE_METRICS_PATH')).to.equal(undefined) },
  'metrics.path': { values: { metrics: { path: '/internal/metrics' } }, check: (o) => expect(envValue(container(o), 'POUNCE_METRICS_PATH')).to.equal('/internal/metrics') },
  'metrics.serviceMonitor.enabled': { values: { metrics: { serviceMonitor: { enabled: true } } }, check: (o) => expect(find(o, 'ServiceMonitor')).to.have.length(1) },
  'metrics.serviceMonitor.namespace': { values: { metrics: { serviceMonitor: { enabled: true, namespace: 'monitoring' } } }, check: (o) => expect(byKind(o, 'ServiceMonitor').metadata.namespace).to.equal('monitoring') },
  'metrics.serviceMonitor.interval': { values: { metrics: { serviceMonitor: { enabled: true, interval: '17s' } } }, check: (o) => expect(JSON.stringify(spec(byKind(o, 'ServiceMonitor')))).to.include('"interval":"17s"') },
  'metrics.serviceMonitor.scrapeTimeout': { values: { metrics: { serviceMonitor: { enabled: true, scrapeTimeout: '7s' } } }, check: (o) => expect(JSON.stringify(spec(byKind(o, 'ServiceMonitor')))).to.include('"scrapeTimeout":"7s"') },
  'metrics.serviceMonitor.labels': { values: { metrics: { serviceMonitor: { enabled: true, labels: { release: 'kps' } } } }, check: (o) => expect(byKind(o, 'ServiceMonitor').metadata.labels?.['release']).to.equal('kps') },
  'metrics.serviceMonitor.relabelings': {
    values: { metrics: { serviceMonitor: { enabled: true, relabelings: [{ targetLabel: 'team', replacement: MARK }] } } },
    check: (o) => expect(JSON.stringify(spec(byKind(o, 'ServiceMonitor')))).to.include(`"relabelings":[{"replacement":"${MARK}","targetLabel":"team"}]`),
  },
  'metrics.serviceMonitor.metricRelabelings': {
    values: { metrics: { serviceMonitor: { enabled: true, metricRelabelings: [{ action: 'drop', regex: MARK }] } } },
    check: (o) => expect(JSON.stringify(spec(byKind(o, 'ServiceMonitor')))).to.include(`"metricRelabelings":[{"action":"drop","regex":"${MARK}"}]`),
  },
  'grafanaDashboard.enabled': {
    values: { grafanaDashboard: { enabled: true } },
    check: (o) => {
      const cm = byKind(o, 'ConfigMap') as K8sObject & { data: Record<string, string> };
      expect(cm.metadata.labels?.['grafana_dashboard']).to.equal('1');
      expect(JSON.parse(cm.data['pounce.json'] as string)).to.deep.equal(JSON.parse(readFileSync(path.join(CHART, '../../deploy/grafana/dashboards/pounce.json'), 'utf8')));
    },
  },
  'grafanaDashboard.namespace': { values: { grafanaDashboard: { enabled: true, namespace: 'grafana' } }, check: (o) => expect(byKind(o, 'ConfigMap').metadata.namespace).to.equal('grafana') },
  'grafanaDashboard.labels': { values: { grafanaDashboard: { enabled: true, labels: { dashboards: 'pounce' } } }, check: (o) => expect(byKind(o, 'ConfigMap').metadata.labels?.['dashboards']).to.equal('pounce') },
  'grafanaDashboard.annotations': { values: { grafanaDashboard: { enabled: true, annotations: { grafana_folder: MARK } } }, check: (o) => expect(byKind(o, 'ConfigMap').metadata.annotations?.['grafana_folder']).to.equal(MARK) },
  extraEnv: { values: { extraEnv: [{ name: 'FEATURE', value: MARK }] }, check: (o) => expect(envValue(container(o), 'FEATURE')).to.equal(MARK) },
  extraEnvFrom: { values: { extraEnvFrom: [{ secretRef: { name: MARK } }] }, check: (o) => expect(container(o).envFrom).to.deep.equal([{ secretRef: { name: MARK } }]) },
  'lifecycle.postStart': { values: { lifecycle: { postStart: { exec: { command: ['touch', MARK] } } } }, check: (o) => expect(container(o).lifecycle?.postStart?.exec?.command).to.deep.equal(['touch', MARK]) },
  'lifecycle.preStop': { values: { lifecycle: { preStop: { sleep: { seconds: 3 } } } }, check: (o) => expect(container(o).lifecycle?.preStop?.sleep?.seconds).to.equal(3) },
  initContainers: { values: { initContainers: [{ name: 'migrate', image: '{{ .Values.image.repository }}:m', command: ['node', 'migrate.js'] }] }, check: (o) => expect(pod(o).initContainers?.[0]).to.include({ name: 'migrate', image: 'ghcr.io/pounce-http/pounce:m' }) },
  sidecars: { values: { sidecars: [{ name: 'proxy', image: 'envoyproxy/envoy:v1.36.2' }] }, check: (o) => expect(pod(o).containers.map((c) => c.name)).to.deep.equal(['pounce', 'proxy']) },
  extraVolumes: { values: { extraVolumes: [{ name: 'certs', secret: { secretName: MARK } }] }, check: (o) => expect(pod(o).volumes?.find((v) => v.name === 'certs')?.secret?.secretName).to.equal(MARK) },
  extraVolumeMounts: { values: { extraVolumeMounts: [{ name: 'tmp', mountPath: '/var/cache/app', subPath: 'cache' }] }, check: (o) => expect(container(o).volumeMounts?.find((m) => m.mountPath === '/var/cache/app')?.subPath).to.equal('cache') },
  'logShipping.elastic': { values: { logShipping: { elastic: false } }, check: (o) => expect(Object.keys(podMeta(o)?.annotations ?? {}).some((k) => k.startsWith('co.elastic'))).to.equal(false) },
  'logShipping.datadog': { values: { logShipping: { datadog: true } }, check: (o) => expect(podMeta(o)?.annotations?.['ad.datadoghq.com/pounce.logs']).to.be.a('string') },
  'logShipping.datadogService': { values: { logShipping: { datadog: true, datadogService: MARK } }, check: (o) => expect(podMeta(o)?.annotations?.['ad.datadoghq.com/pounce.logs']).to.include(MARK) },
  'serviceAccount.create': { values: { serviceAccount: { create: false } }, check: (o) => expect(find(o, 'ServiceAccount')).to.have.length(0) },
  'serviceAccount.name': { values: { serviceAccount: { name: 'shop-sa' } }, check: (o) => expect(pod(o).serviceAccountName).to.equal('shop-sa') },
  'serviceAccount.annotations': { values: { serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': MARK } } }, check: (o) => expect(byKind(o, 'ServiceAccount').metadata.annotations?.['eks.amazonaws.com/role-arn']).to.equal(MARK) },
  'serviceAccount.automount': { values: { serviceAccount: { automount: true } }, check: (o) => expect(pod(o).automountServiceAccountToken).to.equal(true) },
  podAnnotations: { values: { podAnnotations: { note: MARK } }, check: (o) => expect(podMeta(o)?.annotations?.['note']).to.equal(MARK) },
  podLabels: { values: { podLabels: { tier: 'frontend' } }, check: (o) => expect(podMeta(o)?.labels?.['tier']).to.equal('frontend') },
  podSecurityContext: {
    values: { podSecurityContext: { fsGroup: 2000, supplementalGroups: [3000], runAsGroup: null } },
    check: (o) => {
      const sc = pod(o).securityContext;
      expect(sc?.fsGroup).to.equal(2000);
      expect(sc?.supplementalGroups).to.deep.equal([3000]);
      expect(sc?.runAsGroup, 'null removes a default').to.equal(undefined);
      expect(sc?.runAsNonRoot, 'the other defaults stay').to.equal(true);
    },
  },
  securityContext: { values: { securityContext: { runAsUser: 1001 } }, check: (o) => expect(container(o).securityContext?.runAsUser).to.equal(1001) },
  containerPort: { values: { containerPort: 9000 }, check: (o) => expect(container(o).ports?.[0]?.containerPort).to.equal(9000) },
  'service.type': { values: { service: { type: 'NodePort' } }, check: (o) => expect(spec(byKind(o, 'Service'))['type']).to.equal('NodePort') },
  'service.port': { values: { service: { port: 80 } }, check: (o) => expect(JSON.stringify(spec(byKind(o, 'Service'))['ports'])).to.include('"port":80') },
  'service.annotations': { values: { service: { annotations: { lb: MARK } } }, check: (o) => expect(byKind(o, 'Service').metadata.annotations?.['lb']).to.equal(MARK) },
  'ingress.enabled': { values: { ingress: { enabled: true } }, check: (o) => expect(find(o, 'Ingress')).to.have.length(1) },
  'ingress.className': { values: { ingress: { enabled: true, className: 'traefik' } }, check: (o) => expect(spec(byKind(o, 'Ingress'))['ingressClassName']).to.equal('traefik') },
  'ingress.annotations': { values: { ingress: { enabled: true, annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '120' } } }, check: (o) => expect(byKind(o, 'Ingress').metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout']).to.equal('120') },
  'ingress.hosts': { values: { ingress: { enabled: true, hosts: [{ host: 'shop.example.org', paths: [{ path: '/api', pathType: 'Exact' }] }] } }, check: (o) => expect(JSON.stringify(spec(byKind(o, 'Ingress'))['rules'])).to.include('"host":"shop.example.org"').and.include('"path":"/api","pathType":"Exact"') },
  'ingress.tls': { values: { ingress: { enabled: true, tls: [{ secretName: MARK, hosts: ['pounce.example.com'] }] } }, check: (o) => expect(JSON.stringify(spec(byKind(o, 'Ingress'))['tls'])).to.include(MARK) },
  resources: { values: { resources: { limits: { cpu: '3' } } }, check: (o) => expect(container(o).resources?.limits?.['cpu']).to.equal('3') },
  'autoscaling.enabled': { values: { autoscaling: { enabled: true } }, check: (o) => expect(find(o, 'HorizontalPodAutoscaler')).to.have.length(1) },
  'autoscaling.minReplicas': { values: { autoscaling: { enabled: true, minReplicas: 3 } }, check: (o) => expect(spec(byKind(o, 'HorizontalPodAutoscaler'))['minReplicas']).to.equal(3) },
  'autoscaling.maxReplicas': { values: { autoscaling: { enabled: true, maxReplicas: 13 } }, check: (o) => expect(spec(byKind(o, 'HorizontalPodAutoscaler'))['maxReplicas']).to.equal(13) },
  'autoscaling.targetCPUUtilizationPercentage': { values: { autoscaling: { enabled: true, targetCPUUtilizationPercentage: 55 } }, check: (o) => expect(hpaTarget(o, 'cpu')).to.equal(55) },
  'autoscaling.targetMemoryUtilizationPercentage': { values: { autoscaling: { enabled: true, targetMemoryUtilizationPercentage: 66 } }, check: (o) => expect(hpaTarget(o, 'memory')).to.equal(66) },
  'podDisruptionBudget.enabled': { values: { replicaCount: 1, podDisruptionBudget: { enabled: true } }, check: (o) => expect(find(o, 'PodDisruptionBudget')).to.have.length(1) },
  'podDisruptionBudget.minAvailable': { values: { podDisruptionBudget: { minAvailable: '50%' } }, check: (o) => expect(spec(byKind(o, 'PodDisruptionBudget'))['minAvailable']).to.equal('50%') },
  'podDisruptionBudget.maxUnavailable': { values: { podDisruptionBudget: { maxUnavailable: 2 } }, check: (o) => expect(spec(byKind(o, 'PodDisruptionBudget'))['maxUnavailable']).to.equal(2) },
  'networkPolicy.enabled': { values: { networkPolicy: { enabled: true } }, check: (o) => expect(find(o, 'NetworkPolicy')).to.have.length(1) },
  'networkPolicy.from': { values: { networkPolicy: { enabled: true, from: [{ namespaceSelector: { matchLabels: { name: 'ingress-nginx' } } }] } }, check: (o) => expect(JSON.stringify(spec(byKind(o, 'NetworkPolicy'))['ingress'])).to.include('"from":[{"namespaceSelector":{"matchLabels":{"name":"ingress-nginx"}}}]') },
  'networkPolicy.egress': {
    values: { networkPolicy: { enabled: true, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] } },
    check: (o) => {
      expect(spec(byKind(o, 'NetworkPolicy'))['policyTypes']).to.deep.equal(['Ingress', 'Egress']);
      expect(spec(byKind(o, 'NetworkPolicy'))['egress']).to.deep.equal([{ ports: [{ port: 53, protocol: 'UDP' }] }]);
    },
  },
  'topologySpread.enabled': { values: { topologySpread: { enabled: false } }, check: (o) => expect(pod(o).topologySpreadConstraints).to.equal(undefined) },
  'topologySpread.maxSkew': { values: { topologySpread: { maxSkew: 2 } }, check: (o) => expect(pod(o).topologySpreadConstraints?.map((t) => t.maxSkew)).to.deep.equal([2, 2]) },
  'topologySpread.whenUnsatisfiable': { values: { topologySpread: { whenUnsatisfiable: 'DoNotSchedule' } }, check: (o) => expect(pod(o).topologySpreadConstraints?.map((t) => t.whenUnsatisfiable)).to.deep.equal(['DoNotSchedule', 'DoNotSchedule']) },
  'topologySpread.topologyKeys': { values: { topologySpread: { topologyKeys: ['topology.kubernetes.io/region'] } }, check: (o) => expect(pod(o).topologySpreadConstraints?.map((t) => t.topologyKey)).to.deep.equal(['topology.kubernetes.io/region']) },
  nodeSelector: { values: { nodeSelector: { 'kubernetes.io/arch': 'arm64' } }, check: (o) => expect(pod(o).nodeSelector).to.deep.equal({ 'kubernetes.io/arch': 'arm64' }) },
  tolerations: { values: { tolerations: [{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }] }, check: (o) => expect(pod(o).tolerations).to.deep.equal([{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }]) },
  affinity: { values: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'pool', operator: 'In', values: [MARK] }] } }] } } }, check: (o) => expect(JSON.stringify(pod(o).affinity)).to.include(MARK) },
  topologySpreadConstraints: {
    values: { topologySpreadConstraints: [{ maxSkew: 3, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: MARK } } }] },
    check: (o) => expect(pod(o).topologySpreadConstraints).to.deep.equal([{ maxSkew: 3, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: MARK } } }]),
  },
  priorityClassName: { values: { priorityClassName: 'high' }, check: (o) => expect(pod(o).priorityClassName).to.equal('high') },
  'tests.image.repository': { values: { tests: { image: { repository: 'registry.example.com/busybox' } } }, check: (o) => expect(JSON.stringify(byKind(o, 'Pod').spec)).to.include('"image":"registry.example.com/busybox:1.37"') },
  'tests.image.tag': { values: { tests: { image: { tag: '1.36.1' } } }, check: (o) => expect(JSON.stringify(byKind(o, 'Pod').spec)).to.include('"image":"busybox:1.36.1"') },
  'tests.image.pullPolicy': { values: { tests: { image: { pullPolicy: 'Never' } } }, check: (o) => expect(JSON.stringify(byKind(o, 'Pod').spec)).to.include('"imagePullPolicy":"Never"') },
};

// Probes: every setting of every probe.
for (const [probe, field] of [
  ['startup', 'startupProbe'],
  ['readiness', 'readinessProbe'],
  ['liveness', 'livenessProbe'],
] as const) {
  const values: Record<string, number> = { periodSeconds: 4, timeoutSeconds: 5, failureThreshold: 6, successThreshold: probe === 'readiness' ? 2 : 1, initialDelaySeconds: 30 };
  for (const [k, v] of Object.entries(values)) {
    CASES[`probes.${probe}.${k}`] = {
      values: { probes: { [probe]: { [k]: v } } },
      check: (o) => expect((container(o)[field] as Record<string, unknown> | undefined)?.[k], `${field}.${k}`).to.equal(v),
    };
  }
}

/** Helm's own: the values parent charts share with subcharts. The chart reads none of it. */
const NOT_A_CHART_VALUE = ['global'];

describe('deploy: every chart value is rendered (values.schema.json leaf by leaf)', function () {
  this.timeout(120_000);
  const leaves = schemaLeaves(schema);

  it('every schema leaf has a case, and every case is a schema leaf', () => {
    expect(leaves.length).to.be.greaterThan(100);
    expect(leaves.filter((l) => !(l in CASES) && !NOT_A_CHART_VALUE.includes(l)), 'leaves without a case').to.deep.equal([]);
    expect(Object.keys(CASES).filter((c) => !leaves.includes(c)), 'cases that are not leaves').to.deep.equal([]);
  });

  it('values.yaml sets only schema leaves (nothing in values.yaml is outside the schema)', () => {
    const set = (o: Obj, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) && leaves.some((l) => l.startsWith(`${prefix}${k}.`)) ? set(v as Obj, `${prefix}${k}.`) : [`${prefix}${k}`]));
    expect(set(chartValues).filter((p) => !leaves.includes(p))).to.deep.equal([]);
  });

  const defaultText = (): string => renderText();
  for (const leaf of schemaLeaves(schema).filter((l) => !NOT_A_CHART_VALUE.includes(l))) {
    it(`${leaf}`, () => {
      const c = CASES[leaf];
      if (!c) throw new Error(`no case for ${leaf}`);
      // The case's value for the leaf must exist and differ from the default, or the check proves nothing.
      const leafValue = leaf.split('.').reduce<unknown>((o, k) => (o as Obj | undefined)?.[k], c.values);
      expect(leafValue, `${leaf} is set by its case`).to.not.equal(undefined);
      const defaultValue = leaf.split('.').reduce<unknown>((o, k) => (o as Obj | undefined)?.[k], chartValues);
      expect(JSON.stringify(leafValue), `${leaf}: the case sets a value other than the default`).to.not.equal(JSON.stringify(defaultValue));
      const text = renderText({}, c.values);
      expect(text, `${leaf} changes the output`).to.not.equal(defaultText());
      const objs = render({}, c.values);
      objs.forEach(validate);
      c.check(objs, text);
    });
  }
});

// ---------------------------------------------------------------------------

const EXTENDED = {
  replicaCount: 3,
  image: { repository: 'registry.example.com/shop', tag: '2.4.1', digest: `sha256:${'d'.repeat(64)}` },
  app: { module: 'server.js' },
  commonLabels: { team: 'payments' },
  commonAnnotations: { 'example.com/owner': 'payments' },
  extraEnv: [{ name: 'POUNCE_LOG_LEVEL', value: 'debug' }, { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'db', key: 'url' } } }],
  initContainers: [{ name: 'migrate', image: 'registry.example.com/shop:2.4.1', command: ['node', 'migrate.js'], securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  sidecars: [{ name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.18.0', args: ['--port=5432', 'project:region:db'] }],
  extraVolumes: [{ name: 'config', configMap: { name: 'shop-config' } }],
  extraVolumeMounts: [{ name: 'config', mountPath: '/srv/app/config', readOnly: true }],
  lifecycle: { postStart: { exec: { command: ['node', '-e', '0'] } } },
  podSecurityContext: { fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch' },
  networkPolicy: { enabled: true, from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }] },
  grafanaDashboard: { enabled: true, annotations: { grafana_folder: 'pounce' } },
  ingress: { enabled: true, className: 'nginx' },
  metrics: { serviceMonitor: { enabled: true } },
  probes: { liveness: { initialDelaySeconds: 30 } },
};

describe('deploy: the chart as an operator extends it', function () {
  this.timeout(60_000);

  it('helm lint --strict passes with every extension point set', () => {
    const r = helmWithValues(['lint', CHART, '--strict'], EXTENDED);
    expect(r.status, r.stdout + r.stderr).to.equal(0);
  });

  it('every object is valid, and the pod has the extensions where Kubernetes expects them', () => {
    const objs = render({}, EXTENDED);
    objs.forEach(validate);
    expect(objs.map((o) => o.kind).sort()).to.deep.equal(['ConfigMap', 'Deployment', 'Ingress', 'NetworkPolicy', 'Pod', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    const p = pod(objs);
    expect(p.initContainers?.map((c) => c.name)).to.deep.equal(['migrate']);
    expect(p.containers.map((c: IContainer) => c.name)).to.deep.equal(['pounce', 'cloud-sql-proxy']);
    expect(p.volumes?.map((v) => v.name)).to.deep.equal(['tmp', 'config']);
    expect(container(objs).volumeMounts?.map((m) => m.mountPath)).to.deep.equal(['/tmp', '/srv/app/config']);
    expect(container(objs).image).to.equal(`registry.example.com/shop:2.4.1@sha256:${'d'.repeat(64)}`);
    expect(container(objs).livenessProbe?.initialDelaySeconds).to.equal(30);
    expect(p.securityContext).to.include({ fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch', runAsNonRoot: true, runAsUser: 1000 });
    const names = (container(objs).env ?? []).map((e) => e.name);
    expect(names.filter((n) => n === 'POUNCE_LOG_LEVEL')).to.have.length(1);
    for (const o of objs) expect(o.metadata.labels?.['team'], o.kind).to.equal('payments');
  });

  it('PodDisruptionBudget: on with more than one pod (replicas or HPA minimum), off with one, forced either way', () => {
    expect(find(render({ replicaCount: 2 }), 'PodDisruptionBudget')).to.have.length(1);
    expect(find(render({ replicaCount: 1 }), 'PodDisruptionBudget')).to.have.length(0);
    expect(find(render({ replicaCount: 1, 'autoscaling.enabled': true, 'autoscaling.minReplicas': 2 }), 'PodDisruptionBudget')).to.have.length(1);
    expect(find(render({ 'autoscaling.enabled': true, 'autoscaling.minReplicas': 1 }), 'PodDisruptionBudget')).to.have.length(0);
    expect(find(render({ 'podDisruptionBudget.enabled': false }), 'PodDisruptionBudget')).to.have.length(0);
    const pdb = byKind(render(), 'PodDisruptionBudget');
    expect(spec(pdb)['maxUnavailable']).to.equal(1);
    expect((spec(pdb)['selector'] as Obj)['matchLabels']).to.deep.equal(deployment(render()).spec?.selector.matchLabels);
  });

  it('topology spread is on by default, soft, over zones and nodes, selecting the release\'s pods', () => {
    const objs = render();
    const tsc = pod(objs).topologySpreadConstraints ?? [];
    expect(tsc.map((t) => t.topologyKey)).to.deep.equal(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
    for (const t of tsc) {
      expect(t.whenUnsatisfiable).to.equal('ScheduleAnyway');
      expect(t.labelSelector?.matchLabels).to.deep.equal(deployment(objs).spec?.selector.matchLabels);
    }
  });

  it('NetworkPolicy is opt-in, selects the pods and opens only the http port', () => {
    expect(find(render(), 'NetworkPolicy')).to.have.length(0);
    const objs = render({ 'networkPolicy.enabled': true });
    const np = spec(byKind(objs, 'NetworkPolicy'));
    expect((np['podSelector'] as Obj)['matchLabels']).to.deep.equal(deployment(objs).spec?.selector.matchLabels);
    expect(np['policyTypes']).to.deep.equal(['Ingress']);
    expect(np['ingress']).to.deep.equal([{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
    expect(container(objs).ports?.[0]?.name).to.equal('http');
  });

  it('the schema still refuses unknown keys and bad extension values', () => {
    for (const [sets, word] of [
      [['--set', 'extraVolume[0].name=x'], 'extraVolume'],
      [['--set', 'lifecycle.preStopp.exec.command[0]=x'], 'preStopp'],
      [['--set', 'topologySpread.whenUnsatisfiable=Maybe'], 'whenUnsatisfiable'],
      [['--set-json', 'probes.liveness.successThreshold=2'], 'successThreshold'],
      [['--set', 'app=server.js'], 'app'],
      [['--set', 'commonLabels.team=not a label'], 'commonLabels'],
    ] as const) {
      const r = helm(['template', 'pounce', CHART, ...sets]);
      expect(r.status, sets.join(' ')).to.not.equal(0);
      expect(r.stderr, sets.join(' ')).to.include(word);
    }
  });
});
