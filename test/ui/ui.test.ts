/**
 * The web UI in a real browser (Debian's chromium via puppeteer-core): every page,
 * search and paging over 120 repositories, the unikernel variant matrix with the
 * kconfig filter and the feature diff, deleting a tag with its confirmation, HTML
 * escaping of user data, and (basic mode) a user who may not see a repository.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { authConfig, makeUsers } from '../helpers/auth.js';
import { dotConfig, packOk } from '../helpers/kraft.js';
import { MT, pushImage, type Image } from '../helpers/oci.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { gateFor } from '../helpers/tools.js';
import { launchChromium, screenshot, texts } from './browser.js';
import { prepareAs } from './push-as.js';

const gate = await gateFor(['chromium']);
const REPOS = 120;
const repoName = (i: number) => `team/app-${String(i).padStart(3, '0')}`;
const variantsShown = (page: Page) => page.$$eval('table.variants tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-variant') ?? ''));
const HOSTILE = '<img src=x onerror="window.__xss=1">';

describe('web UI (open registry)', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  let signed: Image;
  let signature: Image;

  before(async () => {
    if (gate.blocked) return;
    server = await startTestServer();
    base = server.url;
    for (let i = 0; i < REPOS; i++) await pushImage(base, repoName(i), 'v1');
    signed = await pushImage(base, 'demo/web', 'v1', { annotations: { 'org.opencontainers.image.description': HOSTILE } });
    await pushImage(base, 'demo/web', 'v2');
    signature = await pushImage(base, 'demo/web', undefined, {
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      subject: signed.descriptor,
      configMediaType: MT.ociEmpty,
      annotations: { 'dev.sigstore.cosign/signature': 'MEUCIQ-test-signature' },
    });
    const variants: [string, string, string[]][] = [
      ['x86_64', 'qemu', ['CONFIG_HZ=100', 'CONFIG_LIBVFSCORE=y']],
      ['arm64', 'qemu', ['CONFIG_HZ=250', 'CONFIG_LIBVFSCORE=y', 'CONFIG_LIBUKNETDEV=y']],
      ['x86_64', 'fc', ['CONFIG_HZ=100']],
    ];
    for (const [arch, plat, kconfig] of variants) {
      await packOk(base, 'apps/hello', { tag: 'v1', arch, plat, kernel: Buffer.alloc(4096 + kconfig.length * 1000, 7), kconfig: dotConfig(kconfig) });
    }
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('repositories: first page, next page, search as one types', async (t) => {
    if (!gate.check(t)) return;
    const res = await page.goto(`${base}/ui`);
    assert.equal(res?.status(), 200);
    await screenshot(page, '01-repositories');
    const first = await texts(page, 'table.repos td a');
    assert.equal(first.length, 50);
    assert.deepEqual(first.slice(0, 2), ['apps/hello', 'demo/web']);
    assert.equal(first[49], repoName(47));
    await Promise.all([page.waitForNavigation(), page.click('a.next')]);
    const second = await texts(page, 'table.repos td a');
    assert.deepEqual(second, Array.from({ length: 50 }, (_, i) => repoName(48 + i)));
    await Promise.all([page.waitForNavigation(), page.click('a.next')]);
    const third = await texts(page, 'table.repos td a');
    assert.deepEqual(third, Array.from({ length: 22 }, (_, i) => repoName(98 + i)));
    assert.equal(await page.$('a.next'), null, 'no next page after the last');

    await page.goto(`${base}/ui/repos`);
    await page.type('input[name=q]', 'app-11');
    await page.waitForFunction(() => document.querySelectorAll('table.repos td a').length === 10, { timeout: 10_000 });
    assert.deepEqual(await texts(page, 'table.repos td a'), Array.from({ length: 10 }, (_, i) => repoName(110 + i)));
    assert.match(page.url(), /q=app-11/, 'htmx pushed the search into the address bar');
    await screenshot(page, '02-search');
    await page.goto(`${base}/ui/repos?q=nothing-like-this`);
    assert.match(await page.$eval('#results', (e) => e.textContent ?? ''), /No repository matches/);
  });

  test('tags page: size, push time, platform; manifest page: layers, annotations escaped, referrers, pulls', async (t) => {
    if (!gate.check(t)) return;
    await page.goto(`${base}/ui/tags?repo=demo/web`);
    await screenshot(page, '03-tags');
    const rows = await page.$$eval('table.tags tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
    assert.deepEqual(rows.map((r) => r[0]), ['v1', 'v2']);
    assert.match(rows[0]![1]!, /\d+(\.\d)? (B|KiB)/);
    assert.match(rows[0]![2]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

    await Promise.all([page.waitForNavigation(), page.click('table.tags a[href*="ref=v1"]')]);
    await screenshot(page, '04-manifest');
    const body = await page.$eval('main', (e) => e.textContent ?? '');
    assert.ok(body.includes(signed.digest));
    assert.equal(await page.$$eval('table.layers tbody tr', (r) => r.length), 1);
    // The annotation is shown as text, not parsed as markup.
    assert.ok(body.includes(HOSTILE), 'the hostile annotation is shown verbatim');
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.equal(await page.$('main img'), null);
    const referrers = await texts(page, 'table.referrers tbody tr');
    assert.equal(referrers.length, 1);
    assert.match(referrers[0]!, /cosign/);
    const host = new URL(base).host;
    assert.deepEqual(await texts(page, 'code.pull'), [`docker pull ${host}/demo/web:v1`, `podman pull --tls-verify=false ${host}/demo/web:v1`]);
  });

  test('unikernel view: variant matrix, kconfig filter as the API, feature diff', async (t) => {
    if (!gate.check(t)) return;
    await page.goto(`${base}/ui/tags?repo=apps/hello`);
    await Promise.all([page.waitForNavigation(), page.click('a[href*="/ui/unikernel"]')]);
    await screenshot(page, '05-unikernel');
    assert.deepEqual(await texts(page, 'table.matrix thead th'), ['architecture \\ platform', 'fc', 'qemu']);
    assert.deepEqual(await texts(page, 'table.matrix tbody th'), ['arm64', 'x86_64']);
    assert.equal(await page.$$eval('table.matrix .match', (e) => e.length), 3);
    assert.equal(await page.$$eval('table.matrix td.muted', (e) => e.length), 1, 'arm64 × fc is empty');
    assert.deepEqual((await variantsShown(page)).sort(), ['fc/x86_64', 'qemu/arm64', 'qemu/x86_64']);
    assert.ok((await texts(page, 'code.pull')).some((c) => c.startsWith('unireg variants ')));

    await page.type('input[name=kconfig]', 'CONFIG_HZ=100 CONFIG_LIBVFSCORE');
    await Promise.all([page.waitForNavigation(), page.click('form.kconfig button')]);
    await screenshot(page, '06-kconfig-filter');
    assert.deepEqual(await variantsShown(page), ['qemu/x86_64']);
    assert.match(await page.$eval('.filter-summary', (e) => e.textContent ?? ''), /1 of 3 variants/);
    assert.equal(await page.$$eval('table.matrix .filtered', (e) => e.length), 2);
    // The API's filter agrees.
    const api = await fetch(`${base}/v2/apps/hello/manifests/v1?kconfig=CONFIG_HZ=100&kconfig=CONFIG_LIBVFSCORE`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    const served = (await api.json()) as { manifests: { platform: { architecture: string; os: string } }[] };
    assert.deepEqual(served.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`), ['qemu/x86_64']);

    await page.goto(`${base}/ui/unikernel?repo=apps/hello&tag=v1&kconfig=${encodeURIComponent('not a key!')}`);
    assert.match(await page.$eval('.error', (e) => e.textContent ?? ''), /KEY or KEY=VALUE/);

    await page.goto(`${base}/ui/unikernel?repo=apps/hello&tag=v1`);
    const options = await page.$$eval('select[name=a] option', (os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? '']));
    const x86 = options.find(([, l]) => (l ?? '').startsWith('qemu/x86_64'))![0]!;
    const arm = options.find(([, l]) => (l ?? '').startsWith('qemu/arm64'))![0]!;
    await page.select('select[name=a]', x86);
    await page.select('select[name=b]', arm);
    await Promise.all([page.waitForNavigation(), page.click('form.diff button')]);
    await screenshot(page, '07-diff');
    // The pack adds the architecture's own kconfig key to each variant.
    assert.deepEqual(await texts(page, 'td.only-b .chip'), ['CONFIG_ARCH_ARM_64=y', 'CONFIG_LIBUKNETDEV=y']);
    assert.deepEqual(await texts(page, 'td.only-a .chip'), ['CONFIG_ARCH_X86_64=y']);
    assert.deepEqual(await texts(page, 'td.changed .chip'), ['CONFIG_HZ', '100', '250']);
  });

  test('delete a tag: confirmation first, then gone; a POST from elsewhere is refused', async (t) => {
    if (!gate.check(t)) return;
    await page.goto(`${base}/ui/tags?repo=demo/web`);
    await Promise.all([page.waitForNavigation(), page.click('tr[data-tag="v2"] a.danger')]);
    await screenshot(page, '08-confirm-delete');
    assert.match(await page.$eval('h1', (e) => e.textContent ?? ''), /Delete tag\?/);
    assert.equal((await fetch(`${base}/v2/demo/web/manifests/v2`, { method: 'HEAD', headers: { Accept: MT.ociManifest } })).status, 200, 'nothing deleted before confirming');

    // The same form posted from another site (or without its token) is refused.
    const token = await page.$eval('input[name=token]', (e) => (e as HTMLInputElement).value);
    const form = (tok: string) => new URLSearchParams({ repo: 'demo/web', ref: 'v2', token: tok }).toString();
    const post = (origin: string, tok: string) =>
      fetch(`${base}/ui/delete`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: origin }, body: form(tok) });
    assert.equal((await post('http://evil.example', token)).status, 403);
    assert.equal((await post(base, 'forged')).status, 403);
    assert.equal((await fetch(`${base}/v2/demo/web/manifests/v2`, { method: 'HEAD', headers: { Accept: MT.ociManifest } })).status, 200);

    await Promise.all([page.waitForNavigation(), page.click('#confirm-delete')]);
    await screenshot(page, '09-deleted');
    assert.match(await page.$eval('.notice', (e) => e.textContent ?? ''), /Deleted tag v2/);
    assert.deepEqual(await texts(page, 'table.tags tbody td:first-child'), ['v1']);
    assert.equal((await fetch(`${base}/v2/demo/web/manifests/v2`, { method: 'HEAD', headers: { Accept: MT.ociManifest } })).status, 404);

    // A manifest by digest (the signature): from its page, confirm, gone from the API and the subject's referrers.
    await page.goto(`${base}/ui/manifest?repo=demo/web&ref=${signature.digest}`);
    await Promise.all([page.waitForNavigation(), page.click('.actions a.danger')]);
    assert.match(await page.$eval('h1', (e) => e.textContent ?? ''), /Delete manifest\?/);
    await Promise.all([page.waitForNavigation(), page.click('#confirm-delete')]);
    assert.match(await page.$eval('.notice', (e) => e.textContent ?? ''), /Deleted manifest/);
    assert.equal((await fetch(`${base}/v2/demo/web/manifests/${signature.digest}`, { method: 'HEAD', headers: { Accept: MT.ociManifest } })).status, 404);
    await page.goto(`${base}/ui/manifest?repo=demo/web&ref=v1`);
    assert.equal(await page.$('table.referrers'), null);
  });
});

describe('web UI (basic auth, access rules)', () => {
  let server: TestServer;
  let browser: Browser;
  const users = makeUsers();

  before(async () => {
    if (gate.blocked) return;
    const auth = authConfig('basic', users);
    // bob may pull public/** only; alice everything.
    auth.access = [
      { repository: 'public/**', grants: { authenticated: ['pull'], bob: ['pull', 'catalog'], alice: ['pull', 'push', 'delete', 'catalog'] } },
      { repository: '**', grants: { alice: ['pull', 'push', 'delete', 'catalog'] } },
    ];
    server = await startTestServer({ auth });
    const creds = `Basic ${Buffer.from(`${users.alice.user}:${users.alice.password}`).toString('base64')}`;
    for (const repo of ['public/site', 'secret/plans']) {
      await prepareAs(server.url, repo, creds);
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
  });

  test('without credentials the browser is asked for them (401 + Basic challenge)', async (t) => {
    if (!gate.check(t)) return;
    const res = await fetch(`${server.url}/ui/repos`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  });

  test('bob sees only what he may pull, and no delete actions', async (t) => {
    if (!gate.check(t)) return;
    // One browser context per user: chromium shares its Basic credentials cache within a context.
    const bobContext = await browser.createBrowserContext();
    const page = await bobContext.newPage();
    await page.authenticate({ username: users.bob.user, password: users.bob.password });
    await page.goto(`${server.url}/ui/repos`);
    await screenshot(page, '10-bob-repositories');
    assert.deepEqual(await texts(page, 'table.repos td a'), ['public/site']);
    assert.match(await page.$eval('header .who', (e) => e.textContent ?? ''), /bob/);
    await page.goto(`${server.url}/ui/tags?repo=public/site`);
    assert.equal(await page.$('a.danger'), null, 'bob may not delete');
    const denied = await page.goto(`${server.url}/ui/tags?repo=secret/plans`);
    assert.equal(denied?.status(), 403);
    assert.equal(await page.$('table.tags'), null);
    const confirm = await page.goto(`${server.url}/ui/delete?repo=public/site&ref=v1`);
    assert.equal(confirm?.status(), 403);
    await bobContext.close();

    const aliceContext = await browser.createBrowserContext();
    const alice = await aliceContext.newPage();
    await alice.authenticate({ username: users.alice.user, password: users.alice.password });
    await alice.goto(`${server.url}/ui/repos`);
    assert.deepEqual(await texts(alice, 'table.repos td a'), ['public/site', 'secret/plans']);
    await alice.goto(`${server.url}/ui/tags?repo=secret/plans`);
    assert.notEqual(await alice.$('a.danger'), null, 'alice may delete');
    await aliceContext.close();
  });
});
