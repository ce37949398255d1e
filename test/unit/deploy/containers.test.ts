import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseConfigText } from '../../../agent/config/index.js';
import { REPO } from '../../helpers/agent-process.js';
import { lintDockerfile } from '../../helpers/dockerfile-lint.js';

/**
 * The container and Kubernetes files (issue #15), checked as text: no container runtime runs here and
 * hadolint is not packaged for Debian, so the Dockerfiles get a structural lint (hadolint's rule ids where
 * one exists), and compose and the manifests are validated against schemas of the fields they use (zod,
 * strict: a misspelt field is an error, as in the real schemas) plus the references between them.
 */

const read = (p: string) => readFileSync(join(REPO, p), 'utf8');

for (const file of ['Dockerfile', 'Dockerfile.cuda']) {
  t.test(`${file} passes the lint`, async (t) => {
    t.same(lintDockerfile(read(file), REPO), []);
  });
}

t.test('the lint fails on what it is meant to catch', async (t) => {
  const bad = `FROM node AS build
RUN cd /src && apt-get install curl
ADD https://example.com/x.tgz /x
COPY nope.txt /nope
COPY --from=nowhere /a /b
FROM node:latest
WORKDIR src
CMD node bin/edge-agent.js run
`;
  const found = lintDockerfile(bad, REPO).join('\n');
  for (const rule of [
    'DL3006',
    'DL3015',
    'DL3014',
    'DL3009',
    'DL3003',
    'DL3020',
    'COPY',
    'DL3022',
    'DL3000',
    'DL3025',
    'DL3002',
    'HEALTHCHECK',
    'VOLUME',
    'EXPOSE',
    'STOPSIGNAL',
  ]) {
    t.match(found, rule, `catches ${rule}`);
  }
});

t.test('.dockerignore keeps node_modules, data and bundles out of the build context', async (t) => {
  const ignored = read('.dockerignore').split('\n');
  for (const p of ['node_modules', 'data', 'bundles', 'dist']) t.ok(ignored.includes(p), p);
});

// docker-compose.yml against the compose specification's fields it uses
const healthcheck = z.strictObject({
  test: z.array(z.string()).min(2),
  interval: z.string().regex(/^\d+[smh]$/),
  timeout: z.string().regex(/^\d+[smh]$/),
  retries: z.number().int().positive(),
});
const service = z.strictObject({
  image: z.string().regex(/:[\w.-]+$/, 'an image with a tag'),
  build: z.strictObject({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  volumes: z.array(z.string().regex(/^[^:]+:\/[^:]*(:ro)?$/)).optional(),
  ports: z.array(z.string().regex(/^\d+:\d+$/)).optional(),
  healthcheck: healthcheck.optional(),
  depends_on: z
    .record(z.string(), z.strictObject({ condition: z.enum(['service_started', 'service_healthy']) }))
    .optional(),
  restart: z.enum(['no', 'always', 'on-failure', 'unless-stopped']).optional(),
  stop_grace_period: z
    .string()
    .regex(/^\d+[sm]$/)
    .optional(),
  profiles: z.array(z.string()).optional(),
  deploy: z.unknown().optional(),
});
const compose = z.strictObject({
  name: z.string(),
  services: z.record(z.string(), service),
  volumes: z.record(z.string(), z.null()).optional(),
});

t.test('docker-compose.yml: valid fields, every reference resolves', async (t) => {
  const parsed = compose.safeParse(parseYaml(read('docker-compose.yml')));
  t.ok(parsed.success, parsed.success ? 'valid' : JSON.stringify(parsed.error.issues));
  if (!parsed.success) return;
  const { services, volumes = {} } = parsed.data;
  t.ok(services.mosquitto && services.agent, 'a broker and the agent: a complete local stack');
  for (const [name, s] of Object.entries(services)) {
    for (const dep of Object.keys(s.depends_on ?? {}))
      t.ok(services[dep], `${name} depends on ${dep}, a service`);
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0] as string;
      if (source.startsWith('.'))
        t.ok(statSync(join(REPO, source)), `${name} mounts ${source}, which exists`);
      else t.ok(source in volumes, `${name} mounts the declared volume ${source}`);
    }
    if (s.build) t.ok(statSync(join(REPO, s.build.dockerfile)), `${s.build.dockerfile} exists`);
  }
  t.equal(
    services.agent?.environment?.MQTT_URL,
    'mqtt://mosquitto:1883',
    'the agent talks to the stack broker',
  );
  t.ok(
    services.agent?.volumes?.some((v) => v.endsWith(':/data')),
    'data on a volume',
  );
});

// Kubernetes: the fields these manifests use, strict, as in the API's OpenAPI schemas
const meta = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  labels: z.record(z.string(), z.string()).optional(),
  namespace: z.string().optional(),
});
const probe = z.strictObject({
  httpGet: z.strictObject({ path: z.string(), port: z.union([z.string(), z.number()]) }),
  periodSeconds: z.number().int().positive().optional(),
  timeoutSeconds: z.number().int().positive().optional(),
  failureThreshold: z.number().int().positive().optional(),
});
const envVar = z.strictObject({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: z
    .strictObject({
      fieldRef: z.strictObject({ fieldPath: z.string() }).optional(),
      secretKeyRef: z.strictObject({ name: z.string(), key: z.string() }).optional(),
    })
    .optional(),
});
const securityContext = z.strictObject({
  runAsNonRoot: z.boolean().optional(),
  runAsUser: z.number().int().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  capabilities: z
    .strictObject({ drop: z.array(z.string()).optional(), add: z.array(z.string()).optional() })
    .optional(),
});
const container = z.strictObject({
  name: z.string(),
  image: z
    .string()
    .regex(/:[\w.-]+$/, 'an image with a tag')
    .optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(envVar).optional(),
  ports: z
    .array(
      z.strictObject({ name: z.string(), containerPort: z.number().int(), protocol: z.enum(['TCP', 'UDP']) }),
    )
    .optional(),
  startupProbe: probe.optional(),
  livenessProbe: probe.optional(),
  readinessProbe: probe.optional(),
  resources: z
    .strictObject({
      requests: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
      limits: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    })
    .optional(),
  securityContext: securityContext.optional(),
  volumeMounts: z
    .array(z.strictObject({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() }))
    .optional(),
});
const volume = z.strictObject({
  name: z.string(),
  configMap: z.strictObject({ name: z.string() }).optional(),
  secret: z.strictObject({ secretName: z.string(), defaultMode: z.number().int().optional() }).optional(),
  hostPath: z
    .strictObject({ path: z.string(), type: z.enum(['DirectoryOrCreate', 'Directory', 'CharDevice']) })
    .optional(),
  emptyDir: z.strictObject({ sizeLimit: z.string().optional() }).optional(),
});
const podSpec = z.strictObject({
  nodeSelector: z.record(z.string(), z.string()).optional(),
  runtimeClassName: z.string().optional(),
  terminationGracePeriodSeconds: z.number().int().optional(),
  securityContext: z
    .strictObject({
      runAsNonRoot: z.boolean().optional(),
      runAsUser: z.number().int().optional(),
      runAsGroup: z.number().int().optional(),
      fsGroup: z.number().int().optional(),
      supplementalGroups: z.array(z.number().int()).optional(),
      seccompProfile: z.strictObject({ type: z.string() }).optional(),
    })
    .optional(),
  initContainers: z.array(container).optional(),
  containers: z.array(container).min(1),
  volumes: z.array(volume).optional(),
});
const daemonSet = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('DaemonSet'),
  metadata: meta,
  spec: z.strictObject({
    selector: z.strictObject({ matchLabels: z.record(z.string(), z.string()) }),
    updateStrategy: z
      .strictObject({
        type: z.literal('RollingUpdate'),
        rollingUpdate: z.strictObject({ maxUnavailable: z.number().int() }),
      })
      .optional(),
    template: z.strictObject({
      metadata: z.strictObject({ labels: z.record(z.string(), z.string()) }),
      spec: podSpec,
    }),
  }),
});
const manifests = {
  Namespace: z.strictObject({ apiVersion: z.literal('v1'), kind: z.literal('Namespace'), metadata: meta }),
  ConfigMap: z.strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('ConfigMap'),
    metadata: meta,
    data: z.record(z.string(), z.string()),
  }),
  Secret: z.strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: meta,
    type: z.literal('Opaque'),
    stringData: z.record(z.string(), z.string()),
  }),
  DaemonSet: daemonSet,
  Kustomization: z.strictObject({
    apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
    kind: z.literal('Kustomization'),
    namespace: z.string().optional(),
    resources: z.array(z.string()),
    patches: z.array(z.strictObject({ path: z.string() })).optional(),
    images: z.array(z.strictObject({ name: z.string(), newTag: z.string() })).optional(),
  }),
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

t.test(
  'deploy/k8s: every manifest valid; the DaemonSet consistent with its ConfigMap, Secret and probes',
  async (t) => {
    const docs: { file: string; doc: Record<string, unknown> }[] = [];
    for (const file of yamlFiles(join(REPO, 'deploy/k8s'))) {
      for (const d of parseAllDocuments(readFileSync(file, 'utf8')))
        docs.push({ file: relative(REPO, file), doc: d.toJS() });
    }
    for (const { file, doc } of docs) {
      if (file.endsWith('-patch.yaml')) continue; // strategic-merge patches: partial by design, checked below
      const schema = manifests[doc.kind as keyof typeof manifests];
      t.ok(schema, `${file}: a known kind (${String(doc.kind)})`);
      const r = schema?.safeParse(doc);
      t.ok(r?.success, `${file}: ${r?.success ? 'valid' : JSON.stringify(r?.error.issues)}`);
    }
    const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
    const ds = daemonSet.parse(byKind('DaemonSet')[0]);
    const pod = ds.spec.template.spec;
    t.same(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels, 'the selector matches the pods');
    t.ok(Object.keys(pod.nodeSelector ?? {}).length > 0, 'only on labelled camera nodes');
    const agent = pod.containers[0];
    const portNames = new Set(agent?.ports?.map((p) => p.name));
    t.equal(agent?.livenessProbe?.httpGet.path, '/healthz');
    t.equal(agent?.readinessProbe?.httpGet.path, '/readyz');
    for (const p of [agent?.livenessProbe, agent?.readinessProbe, agent?.startupProbe])
      t.ok(portNames.has(String(p?.httpGet.port)));
    const volumes = new Map(pod.volumes?.map((v) => [v.name, v]));
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      for (const m of c.volumeMounts ?? []) t.ok(volumes.has(m.name), `${c.name} mounts ${m.name}, a volume`);
    }
    t.equal(volumes.get('data')?.hostPath?.path, '/var/lib/edge-agent', 'data stays on the node');
    const configMap = manifests.ConfigMap.parse(byKind('ConfigMap')[0]);
    const secret = manifests.Secret.parse(byKind('Secret')[0]);
    t.equal(volumes.get('config')?.configMap?.name, configMap.metadata.name);
    t.equal(volumes.get('secrets')?.secret?.secretName, secret.metadata.name);
    for (const e of agent?.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (ref)
        t.ok(ref.name === secret.metadata.name && ref.key in secret.stringData, `${e.name} from the Secret`);
      if (e.value?.startsWith('/run/secrets/edge-agent/'))
        t.ok((e.value.split('/').pop() as string) in secret.stringData, `${e.name} names a Secret key`);
    }
    // the ConfigMap's agent.yaml is a valid config with the environment the DaemonSet gives it
    const config = parseConfigText(configMap.data['agent.yaml'] as string, 'configmap agent.yaml', {
      EDGE_AGENT_ID: 'node-1',
      MQTT_URL: 'mqtts://broker.plant:8883',
      MQTT_USER: 'edge-agent',
      MQTT_PASSWORD: 'x',
      EDGE_AGENT_TOKEN: 'y',
    });
    t.equal(config.agent.id, 'node-1');
    t.equal(config.store.path, '/data/agent.db');
    t.ok(
      agent?.volumeMounts?.some((m) => m.mountPath === '/data'),
      'the store path is on the data volume',
    );
    // patches name the DaemonSet and its container
    for (const { file, doc } of docs.filter((d) => d.file.endsWith('-patch.yaml'))) {
      t.match(doc, { kind: 'DaemonSet', metadata: { name: ds.metadata.name } }, file);
      const containers =
        (doc.spec as { template: { spec: { containers?: { name: string }[] } } }).template.spec.containers ??
        [];
      for (const c of containers)
        t.ok(
          pod.containers.some((p) => p.name === c.name),
          `${file} patches ${c.name}`,
        );
    }
    for (const { file, doc } of docs.filter((d) => d.doc.kind === 'Kustomization')) {
      const dir = join(REPO, file, '..');
      for (const r of [
        ...((doc.resources as string[]) ?? []),
        ...((doc.patches as { path: string }[]) ?? []).map((p) => p.path),
      ]) {
        t.ok(statSync(join(dir, r)), `${file}: ${r} exists`);
      }
    }
  },
);
