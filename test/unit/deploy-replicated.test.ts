/**
 * The replicated deployment files must fit the code they deploy:
 * - deploy/replicated/docker-compose.yml validates with `docker-compose config`:
 *   three unireg replicas with the same image, config and secrets, an nginx
 *   balancer publishing the one port, PostgreSQL, MinIO and a bucket step the
 *   replicas wait for; each replica's configuration (file + environment +
 *   image) loads and selects s3 + postgres on the services of the compose file;
 * - deploy/replicated/nginx.conf: round robin over exactly those replicas, no
 *   stickiness, streaming bodies, no body size limit, Host passed on;
 * - deploy/kubernetes-replicated/: a Deployment of 3, its ConfigMap's config
 *   (with the Secret's variables) loads and selects s3 + postgres, readiness on
 *   /readyz, one port everywhere, `kubectl kustomize` renders it offline and
 *   refuses without the secret files.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { durationMs } from '../../src/config/schema.js';
import { dockerfileEnv } from '../helpers/dockerfile.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { requireTool, run } from '../helpers/tools.js';

type Obj = Record<string, unknown>;
const COMPOSE_DIR = join(REPO_ROOT, 'deploy', 'replicated');
const K8S_DIR = join(REPO_ROOT, 'deploy', 'kubernetes-replicated');
const REPLICAS = ['unireg-1', 'unireg-2', 'unireg-3'];

const dirs: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'unireg-replicated-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The UNIREG_* part of the image's environment. */
function imageEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(dockerfileEnv()).filter(([k]) => k.startsWith('UNIREG_')));
}

describe('deploy/replicated (docker-compose)', () => {
  test('docker-compose config: three identical replicas behind nginx, PostgreSQL, MinIO and a bucket step', async (t) => {
    if (!(await requireTool(t, 'docker-compose'))) return;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    const rendered = await run('docker-compose', ['-f', join(COMPOSE_DIR, 'docker-compose.yml'), 'config'], { env, cwd: COMPOSE_DIR });
    const doc = parseYaml(rendered.stdout) as { services: Record<string, Obj> };
    assert.deepEqual(Object.keys(doc.services).sort(), ['bucket', 'lb', 'minio', 'postgres', ...REPLICAS].sort());
    const first = doc.services[REPLICAS[0]!]!;
    for (const name of REPLICAS) {
      const s = doc.services[name]!;
      assert.deepEqual({ ...s }, { ...first }, `${name} is the same as ${REPLICAS[0]}`);
      assert.equal(s.ports, undefined, `${name} is reached through the balancer only`);
    }
    assert.deepEqual(first.depends_on, { postgres: { condition: 'service_healthy' }, bucket: { condition: 'service_completed_successfully' } });
    assert.deepEqual((doc.services.lb!.ports as Obj[]).map((p) => p.target), [5000]);
    assert.match(String((doc.services.bucket!.entrypoint as string[]).join(' ')), /mc mb --ignore-existing store\/unireg/);

    // What a replica runs with: the mounted config file, the image's ENV, then the compose environment.
    const command = first.command as string[];
    const configTarget = command[command.indexOf('--config') + 1]!;
    const volumes = (first.volumes as (string | Obj)[]).map((v) => (typeof v === 'string' ? v : `${String(v.source)}:${String(v.target)}`));
    const configMount = volumes.find((v) => v.split(':')[1] === configTarget);
    assert.ok(configMount, `the config file ${configTarget} is mounted`);
    const configEnv: NodeJS.ProcessEnv = { ...imageEnv() };
    for (const [k, v] of Object.entries((first.environment ?? {}) as Record<string, string>)) configEnv[k] = v;
    const config = await loadConfig({ file: configMount.split(':')[0], env: configEnv });
    assert.equal(config.http.addr, '0.0.0.0:5000');
    assert.equal(config.auth.mode, 'basic');
    assert.ok(volumes.some((v) => v.split(':')[1] === config.auth.htpasswd), 'the htpasswd file is mounted');
    assert.ok(durationMs(config.http.shutdownGrace) < Number.parseInt(String(first.stop_grace_period), 10) * 1000, 'drain fits the stop grace');
    const storage = config.storage as unknown as Obj;
    const blobs = storage.blobs as { driver: string; s3: { endpoint: string; bucket: string; accessKey: string; secretKey: string } };
    const metadata = storage.metadata as { driver: string; postgres: { url: string } };
    assert.equal(blobs.driver, 's3');
    assert.equal(metadata.driver, 'postgres');
    const minio = doc.services.minio!.environment as Record<string, string>;
    assert.equal(blobs.s3.endpoint, 'http://minio:9000');
    assert.equal(blobs.s3.accessKey, minio.MINIO_ROOT_USER);
    assert.equal(blobs.s3.secretKey, minio.MINIO_ROOT_PASSWORD);
    assert.match(String((doc.services.bucket!.entrypoint as string[]).join(' ')), new RegExp(`store/${blobs.s3.bucket}$`));
    const pg = doc.services.postgres!.environment as Record<string, string>;
    assert.equal(metadata.postgres.url, `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`);
  });

  test('nginx: round robin over exactly the replicas, streaming, no size limit, Host passed on', async () => {
    const conf = (await readFile(join(COMPOSE_DIR, 'nginx.conf'), 'utf8')).replace(/#.*$/gm, '');
    const servers = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)\b/gm)].map((m) => m[1]);
    assert.deepEqual(servers, REPLICAS);
    assert.doesNotMatch(conf, /\b(ip_hash|hash|sticky|least_conn)\b/, 'plain round robin');
    for (const directive of ['client_max_body_size 0;', 'proxy_request_buffering off;', 'proxy_buffering off;', 'proxy_http_version 1.1;', 'proxy_set_header Host $http_host;', 'proxy_set_header X-Forwarded-Proto $scheme;', 'listen 5000;']) {
      assert.ok(conf.includes(directive), `nginx.conf has ${directive}`);
    }
  });
});

function docsOf(text: string): Obj[] {
  const parsed = parseAllDocuments(text);
  return (Array.isArray(parsed) ? parsed : [parsed]).map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

describe('deploy/kubernetes-replicated', () => {
  test('kubectl kustomize renders a Deployment of 3 whose config selects s3 + postgres, ready on /readyz', async (t) => {
    if (!(await requireTool(t, 'kubectl'))) return;
    const dir = await tmp();
    await cp(K8S_DIR, dir, { recursive: true });
    const env = { PATH: process.env.PATH, HOME: dir, KUBECONFIG: join(dir, 'no-kubeconfig') };
    const missing = await run('kubectl', ['kustomize', dir], { env, allowFailure: true });
    assert.notEqual(missing.code, 0, 'renders without the secret files');
    await writeFile(join(dir, 'htpasswd'), `alice:$2y$05$${'a'.repeat(53)}\n`);
    const noStorage = await run('kubectl', ['kustomize', dir], { env, allowFailure: true });
    assert.notEqual(noStorage.code, 0, 'renders without storage.env');
    assert.match(noStorage.stderr, /storage\.env/);
    await cp(join(dir, 'storage.env.example'), join(dir, 'storage.env'));
    const docs = docsOf((await run('kubectl', ['kustomize', dir], { env })).stdout);
    assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Secret', 'Service']);
    const kind = (k: string) => docs.find((d) => d.kind === k)!;
    const deployment = kind('Deployment') as { spec: { replicas: number; selector: { matchLabels: Obj }; template: { metadata: { labels: Obj }; spec: Obj } } };
    assert.equal(deployment.spec.replicas, 3);
    const pod = deployment.spec.template.spec as { enableServiceLinks: boolean; containers: Obj[]; volumes: Obj[]; terminationGracePeriodSeconds: number };
    assert.equal(pod.enableServiceLinks, false);
    const container = pod.containers[0] as {
      args: string[];
      envFrom: { secretRef: { name: string } }[];
      ports: { containerPort: number; name: string }[];
      readinessProbe: { httpGet: { path: string; port: string } };
      livenessProbe: { httpGet: { path: string; port: string } };
      volumeMounts: { name: string; mountPath: string; subPath?: string }[];
    };
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/livez', port: 'http' });
    const service = kind('Service') as { spec: { selector: Obj; ports: { targetPort: string }[] } };
    assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
    assert.equal(service.spec.ports[0]!.targetPort, 'http');

    // The config the container runs with: the ConfigMap file, the image's ENV, the Secret's variables.
    const configMap = kind('ConfigMap') as { metadata: { name: string }; data: Record<string, string> };
    const configPath = container.args[container.args.indexOf('--config') + 1]!;
    const mount = container.volumeMounts.find((m) => m.mountPath === configPath)!;
    const volume = pod.volumes.find((v) => v.name === mount.name) as { configMap: { name: string } };
    assert.equal(volume.configMap.name, configMap.metadata.name);
    const file = join(dir, 'config.yaml');
    await writeFile(file, configMap.data[mount.subPath!]!);
    const secrets = docs.filter((d) => d.kind === 'Secret') as { metadata: { name: string }; data: Record<string, string> }[];
    const storageSecret = secrets.find((s) => s.metadata.name === container.envFrom[0]!.secretRef.name)!;
    const secretEnv = Object.fromEntries(Object.entries(storageSecret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    const config = await loadConfig({ file, env: { ...imageEnv(), ...secretEnv } });
    assert.equal(config.http.addr, `0.0.0.0:${container.ports[0]!.containerPort}`);
    assert.ok(durationMs(config.http.shutdownGrace) < pod.terminationGracePeriodSeconds * 1000);
    const storage = config.storage as unknown as { blobs: { driver: string; s3: { accessKey: string } }; metadata: { driver: string; postgres: { url: string } } };
    assert.equal(storage.blobs.driver, 's3');
    assert.equal(storage.metadata.driver, 'postgres');
    assert.equal(storage.metadata.postgres.url, secretEnv.UNIREG_STORAGE_METADATA_POSTGRES_URL);
    assert.equal(storage.blobs.s3.accessKey, secretEnv.UNIREG_STORAGE_BLOBS_S3_ACCESS_KEY);
    // storage.root on the pod's scratch volume (the root file system is read-only).
    const scratch = container.volumeMounts.find((m) => m.mountPath === config.storage.root);
    assert.ok(scratch, `${config.storage.root} is mounted`);
    assert.ok((pod.volumes.find((v) => v.name === scratch.name) as { emptyDir?: unknown }).emptyDir !== undefined);
  });
});
