/**
 * deploy/kubernetes runs unireg with readOnlyRootFilesystem: true and only the
 * data root (a volume) writable. This runs the server with the ConfigMap's
 * configuration in a private mount namespace where every filesystem is
 * read-only except a tmpfs at storage.root, and pushes through every write
 * path: monolithic and chunked uploads, a manifest, a unikernel pack (its
 * multipart temp files), then a clean stop. Nothing may fail with EROFS.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { parse as parseYaml, stringify } from 'yaml';
import { CLI, runCli } from '../helpers/cli.js';
import { MT, randomBlob, sha256 } from '../helpers/oci.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { requireAll } from '../helpers/tools.js';
import { freePort } from '../helpers/ports.js';

/**
 * Runs "$@" with a tmpfs at $1 and every other mount (but /proc, /sys, /dev)
 * read-only, in this mount namespace only (bind remounts; nothing propagates
 * out). Exits 97 if a probe path ($2, $3) is still writable.
 */
const READ_ONLY = `set -e
data="$1"; probe1="$2"; probe2="$3"; shift 3
mount -t tmpfs -o size=256m tmpfs "$data"
while read -r _id _parent _dev _root point _rest; do
  case "$point" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$data") continue ;; esac
  mount -o remount,bind,ro "$point" 2>/dev/null || true
done < /proc/self/mountinfo
for probe in "$probe1" "$probe2"; do
  if touch "$probe" 2>/dev/null; then echo "still writable: $probe" >&2; exit 97; fi
done
exec "$@"`;

/** The unireg config embedded in deploy/kubernetes/configmap.yaml. */
async function configMapConfig(): Promise<Record<string, Record<string, unknown>>> {
  const doc = parseYaml(await readFile(join(REPO_ROOT, 'deploy', 'kubernetes', 'configmap.yaml'), 'utf8')) as { data: Record<string, string> };
  return parseYaml(doc.data['config.yaml']!) as Record<string, Record<string, unknown>>;
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('unireg with the Kubernetes config serves pushes and packs on a read-only root with only storage.root writable', { timeout: 120_000 }, async (t) => {
  if (!(await requireAll(t, { tools: ['unshare', 'sh', 'mount', 'touch'], root: true }))) return;
  const dir = await mkdtemp(join(tmpdir(), 'unireg-ro-'));
  dirs.push(dir);
  const data = join(dir, 'data');
  await mkdir(data);
  await mkdir(join(dir, 'auth'));
  await writeFile(join(dir, 'auth', 'htpasswd'), `alice:${bcrypt.hashSync('s3cret', 5)}\n`);
  const port = await freePort();
  const config = await configMapConfig();
  assert.equal(config.auth!.mode, 'basic');
  // The ConfigMap's settings, with this machine's paths and a free loopback port.
  config.http!.addr = `127.0.0.1:${port}`;
  config.storage!.root = data;
  config.auth!.htpasswd = join(dir, 'auth', 'htpasswd');
  await writeFile(join(dir, 'config.yaml'), stringify(config));

  const repoProbe = join(REPO_ROOT, `.ro-probe-${process.pid}`);
  const child = spawn(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', READ_ONLY, 'sh', data, join(dir, 'probe'), repoProbe, process.execPath, CLI, 'serve', '--config', join(dir, 'config.yaml')],
    { env: { PATH: process.env.PATH, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  try {
    const base = `http://127.0.0.1:${port}`;
    const auth = { Authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` };
    for (let i = 0; ; i++) {
      assert.equal(child.exitCode, null, `exited early: ${output.join('')}`);
      const up = await fetch(`${base}/v2/`).then((r) => r.status, () => 0);
      if (up === 401) break;
      assert.ok(i < 100, 'the server did not come up');
      await new Promise((ok) => setTimeout(ok, 100));
    }
    const go = async (method: string, url: string, body?: Buffer, type = 'application/octet-stream') => {
      const res = await fetch(new URL(url, base), { method, headers: { ...auth, 'Content-Type': type }, body: body === undefined ? undefined : new Uint8Array(body) });
      return { status: res.status, location: res.headers.get('location') ?? '', text: await res.text() };
    };
    const digestParam = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`;

    // Monolithic upload of the config, chunked upload of a layer.
    const cfg = Buffer.from('{"architecture":"amd64","os":"linux"}');
    let started = await go('POST', '/v2/k8s/ro/blobs/uploads/');
    assert.equal(started.status, 202, started.text);
    assert.equal((await go('PUT', digestParam(started.location, sha256(cfg)), cfg)).status, 201);
    const layer = randomBlob(3 * 1024 * 1024);
    started = await go('POST', '/v2/k8s/ro/blobs/uploads/');
    const first = await go('PATCH', started.location, layer.subarray(0, 1024 * 1024));
    assert.equal(first.status, 202, first.text);
    const second = await go('PATCH', first.location, layer.subarray(1024 * 1024));
    assert.equal(second.status, 202, second.text);
    assert.equal((await go('PUT', digestParam(second.location, sha256(layer)))).status, 201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
      }),
    );
    const put = await go('PUT', '/v2/k8s/ro/manifests/v1', manifest, MT.ociManifest);
    assert.equal(put.status, 201, put.text);
    const back = await fetch(`${base}/v2/k8s/ro/blobs/${sha256(layer)}`, { headers: auth });
    assert.equal(sha256(Buffer.from(await back.arrayBuffer())), sha256(layer));

    // A unikernel pack: a multipart form whose files unireg spools under storage.root.
    const kernel = join(dir, 'kernel');
    await writeFile(kernel, Buffer.concat([Buffer.from('\x7fELF'), randomBlob(64 * 1024)]));
    const pack = await runCli(['pack', '--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu', '--user', 'alice', '--password', 's3cret', `127.0.0.1:${port}/k8s/kernel:v1`], {
      HOME: dir,
    });
    assert.equal(pack.code, 0, `${pack.stderr}\n${output.join('')}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await rm(repoProbe, { force: true });
  }
  assert.equal(await exited, 0, output.join(''));
  const log = output.join('');
  assert.doesNotMatch(log, /EROFS|read-only file system/i);
  assert.match(log, /unireg stopped/);
});
