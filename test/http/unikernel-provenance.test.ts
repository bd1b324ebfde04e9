/**
 * What a server-side pack attaches and adds, compared as exact JSON / exact bytes
 * against values this test computes itself:
 *   - the provenance referrer (in-toto Statement v1, SLSA provenance v1 predicate),
 *     with the authenticated principal when auth is on;
 *   - `urunc`: urunc's annotations (base64 values) on the manifest and its index
 *     descriptor, and the /urunc.json layer, per urunc's pkg/unikontainers/config.go.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { layerBytes } from '../../src/unikernel/layer.js';
import { authConfig, basicHeader, makeUsers, type TestUsers } from '../helpers/auth.js';
import { dotConfig, packForm, type PackResult } from '../helpers/kraft.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runCli } from '../helpers/cli.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const digest = (b: Buffer | string) => `sha256:${sha256(b)}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const VERSION = JSON.parse(
  (await import('node:fs')).readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
).version as string;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

async function get(base: string, path: string, headers: Record<string, string>): Promise<Buffer> {
  const res = await fetch(`${base}${path}`, { headers });
  assert.equal(res.status, 200, `GET ${path}`);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * The one-entry layer of a file. Its tar bytes are kraft's (checked against GNU tar and the
 * format doc's test vector in test/unit/unikernel/layer.test.ts); what this test checks is the file.
 */
function ustar(path: string, data: Buffer, mode: number): Buffer {
  return layerBytes(path, data, mode);
}

describe('pack provenance and urunc output', { concurrency: false }, () => {
  let srv: TestServer;
  let users: TestUsers;
  let auth: Record<string, string>;

  before(async () => {
    users = makeUsers();
    srv = await startTestServer({ auth: authConfig('basic', users) });
    auth = { Authorization: basicHeader(users.alice) };
  });
  after(() => srv?.destroy());

  async function pack(repo: string, form: FormData): Promise<PackResult> {
    const res = await fetch(`${srv.url}/v2/${repo}/_unikraft/pack`, { method: 'POST', body: form, headers: auth });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return JSON.parse(text) as PackResult;
  }

  test('every pack attaches an in-toto statement with an SLSA provenance v1 predicate, exactly', async () => {
    const kernel = Buffer.from('a kernel for provenance\n'.repeat(100));
    const initrd = Buffer.from('070701 an initrd');
    const kconfig = dotConfig(['CONFIG_HZ=100']);
    const before = new Date();
    const form = packForm({ tag: 'v1', arch: 'amd64', plat: 'kvm', kernel, initrd, kconfig, cmd: ['-v', 'x'], env: ['A=1'], labels: ['team=infra'], strategy: 'overwrite' });
    form.append('bootExpect', 'Hello');
    const packed = await pack('prov/app', form);
    const after = new Date();

    const res = await fetch(`${srv.url}/v2/prov/app/referrers/${packed.manifest}`, { headers: auth });
    const referrers = ((await res.json()) as { manifests: Descriptor[] }).manifests;
    const prov = referrers.filter((d) => d.artifactType === 'application/vnd.in-toto+json');
    assert.equal(prov.length, 1);
    assert.equal(prov[0]!.digest, packed.provenance);
    assert.equal(prov[0]!.annotations!['in-toto.io/predicate-type'], 'https://slsa.dev/provenance/v1');

    const manifestBytes = await get(srv.url, `/v2/prov/app/manifests/${packed.provenance}`, { ...auth, Accept: 'application/vnd.oci.image.manifest.v1+json' });
    const manifest = JSON.parse(manifestBytes.toString()) as { layers: Descriptor[]; subject: Descriptor; annotations: Record<string, string> };
    const packedManifest = await get(srv.url, `/v2/prov/app/manifests/${packed.manifest}`, { ...auth, Accept: 'application/vnd.oci.image.manifest.v1+json' });
    const statementBytes = await get(srv.url, `/v2/prov/app/blobs/${manifest.layers[0]!.digest}`, auth);
    assert.deepEqual(JSON.parse(manifestBytes.toString()), {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.in-toto+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digest('{}'), size: 2 },
      layers: [{ mediaType: 'application/vnd.in-toto+json', digest: digest(statementBytes), size: statementBytes.length }],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: packed.manifest, size: packedManifest.length },
      annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1', 'org.opencontainers.image.created': manifest.annotations['org.opencontainers.image.created'] },
    });

    const statement = JSON.parse(statementBytes.toString()) as {
      predicate: { runDetails: { metadata: { startedOn: string; finishedOn: string } } };
    };
    const { startedOn, finishedOn } = statement.predicate.runDetails.metadata;
    for (const time of [startedOn, finishedOn]) {
      assert.ok(Date.parse(time) >= before.getTime() - 1000 && Date.parse(time) <= after.getTime() + 1000, `${time} is the pack's time`);
    }
    const host = new URL(srv.url).host;
    const layers = packed.layers;
    const expected = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: `${host}/prov/app:v1`, digest: { sha256: packed.manifest.slice(7) } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {
        buildDefinition: {
          buildType: 'https://github.com/unireg/unireg/blob/main/docs/unikernels.md#provenance-of-server-side-packs',
          externalParameters: {
            repository: 'prov/app',
            tag: 'v1',
            arch: 'x86_64',
            plat: 'qemu',
            version: '0.18.0~a1b2c3',
            cmd: ['-v', 'x'],
            env: ['A=1'],
            labels: { team: 'infra' },
            strategy: 'overwrite',
            urunc: false,
            bootExpect: 'Hello',
          },
          internalParameters: { principal: 'alice', kconfigSkip: ['CONFIG_UK_APP', 'CONFIG_UK_BASE'], kraftkitVersion: '0.11.6' },
          resolvedDependencies: [
            { name: 'kernel', digest: { sha256: sha256(kernel) }, annotations: { size: kernel.length } },
            { name: 'initrd', digest: { sha256: sha256(initrd) }, annotations: { size: initrd.length } },
            { name: '.config', digest: { sha256: sha256(kconfig) }, annotations: { size: Buffer.byteLength(kconfig) } },
          ],
        },
        runDetails: {
          builder: { id: 'urn:unireg:builder:pack', version: { unireg: VERSION } },
          metadata: { startedOn, finishedOn },
          byproducts: [
            { name: 'config', digest: { sha256: packed.config.slice(7) } },
            { name: 'layer:kernel', digest: { sha256: layers[0]!.digest.slice(7) } },
            { name: 'layer:initrd', digest: { sha256: layers[1]!.digest.slice(7) } },
          ],
        },
      },
    };
    // Exact bytes: the same JSON, compact, in this field order.
    assert.equal(statementBytes.toString(), JSON.stringify(expected));
    // The expected-output regex rides on the variant manifest for its boot check.
    const variant = JSON.parse(packedManifest.toString()) as { annotations: Record<string, string> };
    assert.equal(variant.annotations['org.unireg.boot.expected-output'], 'Hello');
  });

  test('pack --urunc adds urunc\'s annotations and /urunc.json, exactly, and keeps the kraft layout', async () => {
    const kernel = Buffer.from('urunc kernel\n');
    const form = packForm({ tag: 'v1', arch: 'x86_64', plat: 'fc', kernel, initrd: Buffer.from('cpio'), version: '0.17.0', cmd: ['/nginx', '-c', '/conf'] });
    form.append('urunc', 'true');
    const packed = await pack('urunc/app', form);
    // urunc's UnikernelConfig, in its field order, values base64 (config.go: decode() base64-decodes every value).
    const json =
      `{"com.urunc.unikernel.unikernelType":"${b64('unikraft')}","com.urunc.unikernel.unikernelVersion":"${b64('0.17.0')}",` +
      `"com.urunc.unikernel.cmdline":"${b64('/nginx -c /conf')}","com.urunc.unikernel.binary":"${b64('/unikraft/bin/kernel')}",` +
      `"com.urunc.unikernel.hypervisor":"${b64('firecracker')}","com.urunc.unikernel.initrd":"${b64('/unikraft/bin/initrd')}",` +
      `"com.urunc.unikernel.useDMBlock":"${b64('false')}"}`;
    const layer = ustar('urunc.json', Buffer.from(json), 0o644);
    assert.equal(packed.layers.length, 3);
    assert.deepEqual(packed.layers[2], { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length });
    const stored = await get(srv.url, `/v2/urunc/app/blobs/${digest(layer)}`, auth);
    assert.equal(stored.subarray(0, 100).toString('latin1').replace(/\0+$/, ''), 'urunc.json', 'at the root of the rootfs');
    assert.equal(stored.subarray(512, 512 + json.length).toString(), json, 'urunc.json holds exactly the expected JSON');
    // The kraft layout is intact: kernel and initrd layers keep their annotations, first and second.
    assert.deepEqual(packed.layers[0]!.annotations, { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' });
    assert.deepEqual(packed.layers[1]!.annotations, { 'org.unikraft.kernel.initrd': '/unikraft/bin/initrd' });
    const manifest = JSON.parse((await get(srv.url, `/v2/urunc/app/manifests/${packed.manifest}`, { ...auth, Accept: 'application/vnd.oci.image.manifest.v1+json' })).toString()) as {
      annotations: Record<string, string>;
    };
    const urunc = Object.fromEntries(Object.entries(manifest.annotations).filter(([k]) => k.startsWith('com.urunc.')));
    assert.deepEqual(urunc, JSON.parse(json), 'the annotations are the same keys and values as urunc.json');
    assert.equal(manifest.annotations['sh.kraftkit.version'], '0.11.6');
    const index = JSON.parse((await get(srv.url, `/v2/urunc/app/manifests/v1`, { ...auth, Accept: 'application/vnd.oci.image.index.v1+json' })).toString()) as {
      manifests: { annotations: Record<string, string> }[];
    };
    assert.deepEqual(index.manifests[0]!.annotations, manifest.annotations, 'copied onto the index descriptor');
    const config = JSON.parse((await get(srv.url, `/v2/urunc/app/blobs/${packed.config}`, auth)).toString()) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, packed.layers.map((l) => l.digest), 'diff_ids name every layer (kraft rule 3)');
  });

  test('urunc without cmdline or initrd omits them, as Go omits empty omitempty fields; xen is refused', async () => {
    const form = packForm({ tag: 'v2', arch: 'x86_64', plat: 'qemu', kernel: Buffer.from('k') });
    form.append('urunc', 'yes');
    const packed = await pack('urunc/bare', form);
    const json =
      `{"com.urunc.unikernel.unikernelType":"${b64('unikraft')}","com.urunc.unikernel.unikernelVersion":"",` +
      `"com.urunc.unikernel.binary":"${b64('/unikraft/bin/kernel')}","com.urunc.unikernel.hypervisor":"${b64('qemu')}",` +
      `"com.urunc.unikernel.useDMBlock":"${b64('false')}"}`;
    const layer = ustar('urunc.json', Buffer.from(json), 0o644);
    assert.equal(packed.layers[1]!.digest, digest(layer));
    const xen = packForm({ tag: 'v3', arch: 'x86_64', plat: 'xen', kernel: Buffer.from('k') });
    xen.append('urunc', 'true');
    const res = await fetch(`${srv.url}/v2/urunc/bare/_unikraft/pack`, { method: 'POST', body: xen, headers: auth });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]!.code, 'MANIFEST_INVALID');
    assert.match(body.errors[0]!.message, /urunc runs Unikraft on qemu or fc/);
  });

  test('unireg pack --urunc --boot-expect sends both; --no-urunc leaves urunc out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'unireg-urunc-cli-'));
    try {
      const kernel = join(dir, 'kernel');
      await writeFile(kernel, 'cli kernel\n');
      const common = ['--kernel', kernel, '--arch', 'x86_64', '--plat', 'qemu', '--user', 'alice', '--password', users.alice.password, '--json'];
      const on = await runCli(['pack', ...common, '--urunc', '--boot-expect', 'Powered by', `${srv.host}/urunc/cli:v1`]);
      assert.equal(on.code, 0, on.stderr);
      const packed = JSON.parse(on.stdout) as PackResult;
      assert.equal(packed.layers.length, 2, 'kernel and urunc.json');
      assert.equal(packed.layers[1]!.annotations, undefined);
      const manifest = JSON.parse((await get(srv.url, `/v2/urunc/cli/manifests/${packed.manifest}`, { ...auth, Accept: 'application/vnd.oci.image.manifest.v1+json' })).toString()) as {
        annotations: Record<string, string>;
      };
      assert.equal(manifest.annotations['com.urunc.unikernel.hypervisor'], b64('qemu'));
      assert.equal(manifest.annotations['org.unireg.boot.expected-output'], 'Powered by');
      const off = await runCli(['pack', ...common, '--no-urunc', `${srv.host}/urunc/cli:v2`]);
      assert.equal(off.code, 0, off.stderr);
      assert.equal((JSON.parse(off.stdout) as PackResult).layers.length, 1);
      const both = await runCli(['pack', ...common, '--urunc', '--no-urunc', `${srv.host}/urunc/cli:v3`]);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /exclude each other/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('with unikernel.urunc on, every pack adds urunc unless the pack says urunc=false; without auth no principal is recorded', async () => {
    const open = await startTestServer({ unikernel: { urunc: true } });
    try {
      const res = await fetch(`${open.url}/v2/def/app/_unikraft/pack`, { method: 'POST', body: packForm({ tag: 'v1', arch: 'x86_64', plat: 'qemu', kernel: Buffer.from('k') }) });
      assert.equal(res.status, 201);
      const packed = (await res.json()) as PackResult;
      assert.equal(packed.layers.length, 2, 'the server default adds /urunc.json');
      const form = packForm({ tag: 'v2', arch: 'x86_64', plat: 'qemu', kernel: Buffer.from('k') });
      form.append('urunc', 'false');
      const res2 = await fetch(`${open.url}/v2/def/app/_unikraft/pack`, { method: 'POST', body: form });
      assert.equal(res2.status, 201);
      assert.equal(((await res2.json()) as PackResult).layers.length, 1, 'the pack field overrides the default');
      const prov = await get(open.url, `/v2/def/app/manifests/${packed.provenance}`, { Accept: 'application/vnd.oci.image.manifest.v1+json' });
      const statementDigest = (JSON.parse(prov.toString()) as { layers: Descriptor[] }).layers[0]!.digest;
      const statement = JSON.parse((await get(open.url, `/v2/def/app/blobs/${statementDigest}`, {})).toString()) as {
        predicate: { buildDefinition: { internalParameters: Record<string, unknown>; externalParameters: { urunc: boolean } } };
      };
      assert.deepEqual(Object.keys(statement.predicate.buildDefinition.internalParameters), ['kconfigSkip', 'kraftkitVersion']);
      assert.equal(statement.predicate.buildDefinition.externalParameters.urunc, true);
    } finally {
      await open.destroy();
    }
  });
});
