/**
 * Immutable tags and retention with a real client: skopeo pushes to an
 * immutable tag once, re-pushes the same image, is refused (and says why) when
 * it pushes another image there or deletes the tag; retention then deletes the
 * old mutable tags and skopeo still pulls every remaining one.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeImage, readDirImage, writeOciLayout, type Image, type Layout } from '../helpers/images.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { describeRun, gateFor, removeScratch, run } from '../helpers/tools.js';

const gate = await gateFor(['skopeo']);
const TIMEOUT = { timeout: 120_000 };

describe('immutable tags and retention with skopeo', { concurrency: false }, () => {
  let srv: TestServer;
  let work: string;
  let first: Layout<Image>;
  let second: Layout<Image>;
  const seed = `lifecycle-${randomUUID()}`;
  const skopeo = (args: string[], allowFailure = false) => run('skopeo', args, { timeout: 90_000, allowFailure });
  const reg = (ref: string) => `docker://${srv.host}/${ref}`;
  const push = (layout: Layout<Image>, ref: string, allowFailure = false) =>
    skopeo(['copy', '--quiet', '--dest-tls-verify=false', layout.transport, reg(ref)], allowFailure);

  before(async () => {
    if (gate.blocked) return;
    srv = await startTestServer({
      immutableTags: [{ repository: 'rel/**', tags: ['v\\d+'] }],
      retention: [{ repository: 'rel/**', keepLast: 1 }],
    });
    work = await mkdtemp(join(tmpdir(), 'unireg-lifecycle-'));
    first = await writeOciLayout(join(work, 'first'), 'latest', makeImage(`${seed}/first`));
    second = await writeOciLayout(join(work, 'second'), 'latest', makeImage(`${seed}/second`));
  });

  after(async () => {
    await srv?.destroy();
    await removeScratch(work);
  });

  test('an immutable tag: pushed once, re-pushed identically, never overwritten or deleted', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await push(first, 'rel/app:v1');
    await push(first, 'rel/app:v1');
    const refused = await push(second, 'rel/app:v1', true);
    assert.notEqual(refused.code, 0, describeRun(refused));
    assert.match(refused.stderr, /denied/i, describeRun(refused));
    assert.match(refused.stderr, /tag v1 of rel\/app is immutable/, describeRun(refused));

    const del = await skopeo(['delete', '--tls-verify=false', reg('rel/app:v1')], true);
    assert.notEqual(del.code, 0, describeRun(del));
    assert.match(del.stderr, /immutable tag v1/, describeRun(del));

    const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', reg('rel/app:v1')])).stdout;
    assert.ok(Buffer.from(raw).equals(first.top.bytes), 'the tag still holds the first image, byte for byte');
  });

  test('retention deletes the old mutable tags; every remaining tag pulls', TIMEOUT, async (t) => {
    if (!gate.check(t)) return;
    await push(second, 'rel/app:dev-1');
    await new Promise((r) => setTimeout(r, 5));
    await push(first, 'rel/app:dev-2');
    const res = await fetch(`${srv.url}/_unireg/retention`, { method: 'POST' });
    const report = (await res.json()) as { deleted: { tag: string }[] };
    assert.deepEqual(report.deleted.map((e) => e.tag), ['dev-1'], 'v1 is immutable; dev-2 is the last one');
    const tags = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', reg('rel/app')])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags.sort(), ['dev-2', 'v1']);
    for (const tag of tags.Tags) {
      const out = join(work, `pull-${tag}`);
      await skopeo(['copy', '--quiet', '--src-tls-verify=false', reg(`rel/app:${tag}`), `dir:${out}`]);
      const pulled = await readDirImage(out);
      assert.ok(pulled.manifest.equals(first.top.bytes), `${tag}: the manifest pulled is the one pushed`);
      for (const blob of [first.content.config, ...first.content.layers]) {
        assert.ok(pulled.blobs.get(blob.digest)?.equals(blob.bytes), `${tag}: blob ${blob.digest}`);
      }
    }
  });
});
