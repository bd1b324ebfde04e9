/**
 * deploy/kubernetes/ must fit the code it deploys:
 * - every YAML document parses and the kustomization lists every manifest;
 * - the ConfigMap's unireg config is valid through the real loader and schema,
 *   also with the image's and the container's environment on top;
 * - one port everywhere: http.addr = containerPort = the Service's targetPort
 *   = the probes' port; the probes GET the unauthenticated health endpoints;
 * - the container runs as the Dockerfile's non-root USER, read-only, without
 *   capabilities or privilege escalation;
 * - storage.root is on the claim template's volume, auth.htpasswd on the
 *   Secret's read-only mount, the config file on the ConfigMap's;
 * - `kubectl kustomize` (offline) renders exactly these objects, and refuses
 *   to render without the htpasswd file.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { durationMs, type Config } from '../../src/config/schema.js';
import { dockerfileEnv, dockerfileUser } from '../helpers/dockerfile.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { requireTool, run } from '../helpers/tools.js';

const DIR = join(REPO_ROOT, 'deploy', 'kubernetes');

/**
 * The health endpoints the probes may use: GET, 200 JSON, no authentication.
 * They are served by the metrics/health work merged separately (src/http/routes/);
 * until then this list is the one place that names them: when they land, check
 * the probe paths against the app's route table instead.
 */
const HEALTH_ENDPOINTS = { liveness: '/livez', readiness: '/readyz' } as const;

type Obj = Record<string, unknown>;

function obj(value: unknown, what: string): Obj {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} should be a mapping, got ${JSON.stringify(value)}`);
  return value as Obj;
}

function list(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what} should be a list, got ${JSON.stringify(value)}`);
  return value;
}

/** The value at a dotted path, failing with the path when a step is missing. */
function at(value: unknown, path: string): unknown {
  let node = value;
  const done: string[] = [];
  for (const key of path.split('.')) {
    done.push(key);
    node = obj(node, done.slice(0, -1).join('.') || '(document)')[key];
    assert.notEqual(node, undefined, `${done.join('.')} is missing`);
  }
  return node;
}

function str(value: unknown, what: string): string {
  assert.equal(typeof value, 'string', `${what} should be a string`);
  return value as string;
}

function named(items: unknown[], name: string, what: string): Obj {
  const found = items.map((i) => obj(i, what)).find((i) => i.name === name);
  assert.ok(found, `no ${what} named ${name}`);
  return found;
}

interface Manifests {
  files: string[];
  kustomization: Obj;
  objects: Obj[];
}

async function parseFile(path: string): Promise<Obj[]> {
  const docs = parseAllDocuments(await readFile(path, 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  return list.flatMap((doc) => {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${basename(path)} does not parse`);
    const value: unknown = doc.toJS();
    return value === null ? [] : [obj(value, basename(path))];
  });
}

async function loadManifests(): Promise<Manifests> {
  const files = (await readdir(DIR)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const [kustomization] = await parseFile(join(DIR, 'kustomization.yaml'));
  assert.ok(kustomization, 'kustomization.yaml has a document');
  const objects: Obj[] = [];
  for (const file of files.filter((f) => f !== 'kustomization.yaml')) objects.push(...(await parseFile(join(DIR, file))));
  return { files, kustomization, objects };
}

function theOne(objects: Obj[], kind: string): Obj {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!;
}

/**
 * The variables Kubernetes puts into a pod for a Service of its namespace unless
 * the pod says `enableServiceLinks: false` (docker links' format): for `unireg`,
 * UNIREG_SERVICE_HOST, UNIREG_PORT, UNIREG_PORT_5000_TCP, ...
 */
function serviceLinkEnv(service: Obj): Record<string, string> {
  const prefix = str(at(service, 'metadata.name'), 'Service name').toUpperCase().replace(/-/g, '_');
  const ip = '10.96.0.10';
  const ports = list(at(service, 'spec.ports'), 'Service ports').map((p) => obj(p, 'Service port'));
  const env: Record<string, string> = { [`${prefix}_SERVICE_HOST`]: ip, [`${prefix}_SERVICE_PORT`]: String(ports[0]!.port) };
  ports.forEach((p, i) => {
    const proto = String(p.protocol ?? 'TCP');
    const url = `${proto.toLowerCase()}://${ip}:${String(p.port)}`;
    if (typeof p.name === 'string') env[`${prefix}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    if (i === 0) env[`${prefix}_PORT`] = url;
    const key = `${prefix}_PORT_${String(p.port)}_${proto}`;
    Object.assign(env, { [key]: url, [`${key}_PROTO`]: proto.toLowerCase(), [`${key}_PORT`]: String(p.port), [`${key}_ADDR`]: ip });
  });
  return env;
}

/** The port number of `host:port`. */
function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

/** Where a file path in the container comes from: the mount that covers it, its volume, and the path inside the volume. */
interface Source {
  mount: Obj;
  volume: Obj | undefined;
  claim: Obj | undefined;
  /** The file's path inside the volume (the subPath, or the rest of the path below the mount). */
  inner: string;
}

function sourceOf(statefulSet: Obj, container: Obj, path: string): Source {
  const mounts = list(container.volumeMounts, 'volumeMounts').map((v) => obj(v, 'volumeMount'));
  const covering = mounts
    .filter((mt) => {
      const at = str(mt.mountPath, 'mountPath').replace(/\/$/, '');
      return path === at || path.startsWith(`${at}/`);
    })
    // The deepest mount wins, as in the container.
    .sort((a, b) => str(b.mountPath, 'mountPath').length - str(a.mountPath, 'mountPath').length);
  const mount = covering[0];
  assert.ok(mount, `nothing is mounted at or above ${path}`);
  const mountPath = str(mount.mountPath, 'mountPath').replace(/\/$/, '');
  const below = path.slice(mountPath.length + 1);
  const inner = typeof mount.subPath === 'string' ? [mount.subPath, below].filter(Boolean).join('/') : below;
  const name = str(mount.name, 'volumeMount name');
  const volumes = list(at(statefulSet, 'spec.template.spec.volumes'), 'volumes').map((v) => obj(v, 'volume'));
  const claims = list(at(statefulSet, 'spec.volumeClaimTemplates'), 'volumeClaimTemplates').map((c) => obj(c, 'claim'));
  return {
    mount,
    volume: volumes.find((v) => v.name === name),
    claim: claims.find((c) => obj(c.metadata, 'claim metadata').name === name),
    inner,
  };
}

/** A probe's or Service's port as a number: numbers as they are, names through the container's ports. */
function resolvePort(port: unknown, container: Obj, what: string): number {
  if (typeof port === 'number') return port;
  const name = str(port, what);
  const entry = list(container.ports, 'container ports')
    .map((p) => obj(p, 'container port'))
    .find((p) => p.name === name);
  assert.ok(entry, `${what}: the container has no port named ${name}`);
  return Number(entry.containerPort);
}

describe('deploy/kubernetes', () => {
  let m: Manifests;
  let statefulSet: Obj;
  let container: Obj;
  let configMap: Obj;
  let configPath: string;
  /** The ConfigMap's file alone, and with the image's and the container's environment on top (what serve sees). */
  let fileOnly: Config;
  let effective: Config;
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'unireg-k8s-'));
    dirs.push(d);
    return d;
  };

  before(async () => {
    m = await loadManifests();
    statefulSet = theOne(m.objects, 'StatefulSet');
    const containers = list(at(statefulSet, 'spec.template.spec.containers'), 'containers');
    assert.equal(containers.length, 1, 'one container');
    container = obj(containers[0], 'container');
    configMap = theOne(m.objects, 'ConfigMap');

    // The config file serve is started with, read from where the container gets it.
    const args = list(container.args, 'container args').map((a) => str(a, 'arg'));
    assert.equal(args[0], 'serve', `args ${JSON.stringify(args)}`);
    const i = args.indexOf('--config');
    assert.ok(i > 0 && args[i + 1] !== undefined, `args ${JSON.stringify(args)} name a config file`);
    configPath = args[i + 1]!;
    const source = sourceOf(statefulSet, container, configPath);
    assert.ok(source.volume, `${configPath} is mounted from a volume of the pod`);
    assert.equal(at(source.volume, 'configMap.name'), at(configMap, 'metadata.name'), `${configPath} comes from the ConfigMap`);
    const text = str(obj(at(configMap, 'data'), 'ConfigMap data')[source.inner], `ConfigMap data.${source.inner}`);
    const file = join(await tmp(), 'config.yaml');
    await writeFile(file, text);

    // What the container sees: the image's variables, the Services' link variables (unless turned off), its own env.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(dockerfileEnv())) if (k.startsWith('UNIREG_')) env[k] = v;
    if (obj(at(statefulSet, 'spec.template.spec'), 'pod spec').enableServiceLinks !== false) {
      for (const service of m.objects.filter((o) => o.kind === 'Service')) Object.assign(env, serviceLinkEnv(service));
    }
    for (const e of list(container.env ?? [], 'container env').map((v) => obj(v, 'env entry'))) env[str(e.name, 'env name')] = str(e.value, `env ${String(e.name)}`);
    assert.equal(env.UNIREG_CONFIG, undefined, 'the config file is given by --config only');
    fileOnly = await loadConfig({ file, env: {} });
    effective = await loadConfig({ file, env });
  });
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('every document parses, has a kind and a name, and the kustomization lists every manifest', () => {
    for (const o of m.objects) {
      assert.equal(typeof o.apiVersion, 'string', `apiVersion of ${JSON.stringify(o.metadata)}`);
      assert.equal(typeof o.kind, 'string');
      str(at(o, 'metadata.name'), `metadata.name of a ${String(o.kind)}`);
    }
    assert.deepEqual(
      m.objects.map((o) => o.kind).sort(),
      ['ConfigMap', 'Service', 'StatefulSet'],
      'the Secret is generated by the kustomization, from a file that is not in the repository',
    );
    const resources = list(m.kustomization.resources, 'kustomization resources').map((r) => str(r, 'resource')).sort();
    assert.deepEqual(resources, m.files.filter((f) => f !== 'kustomization.yaml'), 'kustomization.yaml lists every manifest of deploy/kubernetes/, and only those');
  });

  test('the htpasswd Secret is generated from a file the repository ignores, under a fixed name', async () => {
    const generators = list(m.kustomization.secretGenerator, 'secretGenerator').map((g) => obj(g, 'secretGenerator'));
    assert.equal(generators.length, 1);
    assert.deepEqual(generators[0]!.files, ['htpasswd']);
    assert.equal(at(m.kustomization, 'generatorOptions.disableNameSuffixHash'), true, 'a fixed name: the kubelet updates the file in place and unireg re-reads it');
    for (const ignore of ['.gitignore', '.dockerignore']) {
      const lines = (await readFile(join(REPO_ROOT, ignore), 'utf8')).split('\n');
      assert.ok(lines.includes('deploy/kubernetes/htpasswd'), `${ignore} keeps deploy/kubernetes/htpasswd out`);
    }
  });

  test('the ConfigMap holds a valid unireg config for 0.0.0.0 with Basic authentication; the environment does not change it', () => {
    assert.equal(fileOnly.http.addr, '0.0.0.0:5000');
    assert.equal(fileOnly.auth.mode, 'basic');
    assert.notEqual(fileOnly.auth.htpasswd, '');
    // The image sets UNIREG_HTTP_ADDR and UNIREG_STORAGE_ROOT, which win over the file: they must agree.
    assert.deepEqual(effective, fileOnly, 'the image\'s or the container\'s UNIREG_* variables override the ConfigMap');
  });

  test('one port: http.addr = containerPort = the Service\'s targetPort = the probes\' port', () => {
    const port = portOf(effective.http.addr);
    const ports = list(container.ports, 'container ports').map((p) => obj(p, 'container port'));
    assert.deepEqual(ports.map((p) => p.containerPort), [port], 'the container declares the port unireg listens on');
    const service = theOne(m.objects, 'Service');
    const servicePorts = list(at(service, 'spec.ports'), 'Service ports').map((p) => obj(p, 'Service port'));
    assert.equal(servicePorts.length, 1);
    assert.equal(resolvePort(servicePorts[0]!.targetPort, container, 'Service targetPort'), port);
    assert.deepEqual(at(service, 'spec.selector'), at(statefulSet, 'spec.template.metadata.labels'), 'the Service selects the pod');
    assert.equal(at(statefulSet, 'spec.serviceName'), at(service, 'metadata.name'));
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      assert.equal(resolvePort(at(container, `${probe}.httpGet.port`), container, probe), port, `${probe} port`);
    }
  });

  test('the probes GET the health endpoints, over the scheme unireg serves', () => {
    assert.equal(at(container, 'livenessProbe.httpGet.path'), HEALTH_ENDPOINTS.liveness);
    assert.equal(at(container, 'readinessProbe.httpGet.path'), HEALTH_ENDPOINTS.readiness);
    assert.ok(Object.values<string>(HEALTH_ENDPOINTS).includes(str(at(container, 'startupProbe.httpGet.path'), 'startupProbe path')));
    const scheme = effective.http.tls.certificate === '' ? 'HTTP' : 'HTTPS';
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      assert.equal(obj(at(container, `${probe}.httpGet`), probe).scheme ?? 'HTTP', scheme, `${probe} scheme`);
    }
  });

  test('the container runs as the Dockerfile\'s non-root user, read-only, with no capabilities or privilege escalation', async () => {
    const { user, group } = dockerfileUser();
    assert.match(user, /^\d+$/, 'the Dockerfile\'s USER is numeric, so that runAsNonRoot can check it');
    assert.notEqual(Number(user), 0);
    const podSecurity = obj(at(statefulSet, 'spec.template.spec.securityContext'), 'pod securityContext');
    assert.equal(podSecurity.runAsNonRoot, true);
    assert.equal(podSecurity.runAsUser, Number(user), 'runAsUser = the Dockerfile\'s USER');
    assert.equal(podSecurity.runAsGroup, Number(group ?? user));
    assert.equal(podSecurity.fsGroup, Number(group ?? user), 'a fresh volume is made writable for the image\'s group');
    // The image's own data root belongs to the same ids.
    const dockerfile = await readFile(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
    assert.match(dockerfile, new RegExp(`chown ${user}:${group ?? user} ${effective.storage.root}\\b`));
    const security = obj(container.securityContext, 'container securityContext');
    assert.equal(security.allowPrivilegeEscalation, false);
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.deepEqual(at(security, 'capabilities.drop'), ['ALL']);
    assert.equal(security.privileged ?? false, false);
    assert.equal(security.runAsUser ?? podSecurity.runAsUser, Number(user));
  });

  test('storage.root is on the claim template\'s volume (writable), auth.htpasswd on the Secret\'s read-only mount', () => {
    const data = sourceOf(statefulSet, container, effective.storage.root);
    assert.ok(data.claim, `${effective.storage.root} (storage.root) is on a volumeClaimTemplate`);
    assert.notEqual(data.mount.readOnly, true);
    assert.deepEqual(at(data.claim, 'spec.accessModes'), ['ReadWriteOnce']);
    str(at(data.claim, 'spec.resources.requests.storage'), 'claim size');

    const htpasswd = sourceOf(statefulSet, container, effective.auth.htpasswd);
    assert.ok(htpasswd.volume, `${effective.auth.htpasswd} (auth.htpasswd) is mounted from a volume`);
    const generator = obj(list(m.kustomization.secretGenerator, 'secretGenerator')[0], 'secretGenerator');
    assert.equal(at(htpasswd.volume, 'secret.secretName'), generator.name, 'auth.htpasswd comes from the generated Secret');
    assert.deepEqual(generator.files, [htpasswd.inner], 'the Secret key is the file auth.htpasswd names');
    assert.equal(htpasswd.mount.readOnly, true);
    assert.equal(htpasswd.mount.subPath, undefined, 'no subPath: the kubelet can then update the file when the Secret changes');
  });

  test('one replica, bounded resources, a stop grace above http.shutdownGrace', () => {
    assert.equal(at(statefulSet, 'spec.replicas'), 1, 'LevelDB locks the data root: one process');
    for (const kind of ['requests', 'limits']) {
      for (const resource of ['cpu', 'memory']) assert.ok(at(container, `resources.${kind}.${resource}`), `${kind}.${resource}`);
    }
    const grace = Number(at(statefulSet, 'spec.template.spec.terminationGracePeriodSeconds')) * 1000;
    assert.ok(grace > durationMs(effective.http.shutdownGrace), `terminationGracePeriodSeconds (${grace} ms) > http.shutdownGrace`);
  });

  test('kubectl kustomize renders the objects offline, with the Secret from the htpasswd file', async (t) => {
    if (!(await requireTool(t, 'kubectl'))) return;
    const dir = await tmp();
    await cp(DIR, dir, { recursive: true });
    const env = { PATH: process.env.PATH, HOME: dir, KUBECONFIG: join(dir, 'no-kubeconfig') };
    // Without the file, nothing is rendered (no Secret with no users, no default password).
    const missing = await run('kubectl', ['kustomize', dir], { env, allowFailure: true });
    assert.notEqual(missing.code, 0, 'kubectl kustomize renders without deploy/kubernetes/htpasswd');
    assert.match(missing.stderr, /htpasswd/);

    const line = `alice:$2y$05$${'a'.repeat(53)}\n`;
    await writeFile(join(dir, 'htpasswd'), line);
    const rendered = await run('kubectl', ['kustomize', dir], { env });
    const objects = parseAllDocuments(rendered.stdout);
    const docs = (Array.isArray(objects) ? objects : [objects]).map((d) => obj(d.toJS(), 'rendered document'));
    assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'Secret', 'Service', 'StatefulSet']);
    const secret = theOne(docs, 'Secret');
    const renderedSet = theOne(docs, 'StatefulSet');
    const renderedContainer = obj(list(at(renderedSet, 'spec.template.spec.containers'), 'containers')[0], 'container');
    const volume = sourceOf(renderedSet, renderedContainer, effective.auth.htpasswd).volume;
    assert.equal(at(secret, 'metadata.name'), at(volume, 'secret.secretName'), 'the rendered Secret is the one the pod mounts');
    assert.equal(Buffer.from(str(at(secret, 'data.htpasswd'), 'Secret data'), 'base64').toString(), line);
    assert.deepEqual(theOne(docs, 'ConfigMap').data, configMap.data);
  });
});
