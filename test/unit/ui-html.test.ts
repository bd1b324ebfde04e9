/** The UI's building blocks without a browser: escaping, the feature diff, pull commands. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, html } from '../../src/ui/html.js';
import { diffFeatures } from '../../src/ui/pages/feature-diff.js';
import { kconfigList } from '../../src/ui/pages/unikernel.js';
import { pullCommands } from '../../src/ui/pulls.js';

test('every interpolated value is escaped, nested Html is not escaped twice', () => {
  const name = `a<b>&"c'`;
  const inner = html`<i>${name}</i>`;
  assert.equal(html`<p title="${name}">${inner}${[name, 1]}${undefined}${false}</p>`.text, '<p title="a&lt;b&gt;&amp;&quot;c&#39;"><i>a&lt;b&gt;&amp;&quot;c&#39;</i>a&lt;b&gt;&amp;&quot;c&#39;1</p>');
});

test('feature diff: only in one, different values, the same', () => {
  const d = diffFeatures(['CONFIG_HZ=100', 'CONFIG_A=y', 'CONFIG_BARE', 'CONFIG_X=1'], ['CONFIG_HZ=250', 'CONFIG_A=y', 'CONFIG_B=y', 'CONFIG_X=1']);
  assert.deepEqual(d, { onlyA: ['CONFIG_BARE'], onlyB: ['CONFIG_B=y'], changed: [{ key: 'CONFIG_HZ', a: '100', b: '250' }], same: 2 });
  assert.deepEqual(diffFeatures([], []), { onlyA: [], onlyB: [], changed: [], same: 0 });
});

test('kconfig filter text: spaces and commas separate', () => {
  assert.deepEqual(kconfigList(' CONFIG_HZ=100,CONFIG_A  CONFIG_B=y,'), ['CONFIG_HZ=100', 'CONFIG_A', 'CONFIG_B=y']);
  assert.deepEqual(kconfigList('   '), []);
});

test('pull commands: tag or digest, plain HTTP for podman, unireg for unikernels', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(pullCommands({ host: 'reg.example:5000', plainHttp: false, repo: 'apps/x', ref: 'v1' }, true), [
    { client: 'docker', command: 'docker pull reg.example:5000/apps/x:v1' },
    { client: 'podman', command: 'podman pull reg.example:5000/apps/x:v1' },
    { client: 'unireg', command: 'unireg variants reg.example:5000/apps/x:v1' },
  ]);
  assert.deepEqual(pullCommands({ host: 'reg.example:5000', plainHttp: true, repo: 'apps/x', ref: digest }, true), [
    { client: 'docker', command: `docker pull reg.example:5000/apps/x@${digest}` },
    { client: 'podman', command: `podman pull --tls-verify=false reg.example:5000/apps/x@${digest}` },
    { client: 'unireg', command: 'unireg variants --plain-http reg.example:5000/apps/x' },
  ]);
  assert.equal(pullCommands({ host: '127.0.0.1:5000', plainHttp: true, repo: 'r', ref: 'v1' }, false).length, 2);
});

test('sizes for people', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(undefined), '—');
});
