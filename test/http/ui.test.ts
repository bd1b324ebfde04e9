/** The web UI's HTTP surface without a browser: assets, headers, token mode, bad parameters. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { authConfig, makeUsers } from '../helpers/auth.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let open: TestServer;
let token: TestServer;

before(async () => {
  open = await startTestServer();
  token = await startTestServer({ auth: authConfig('token', makeUsers()) });
});

after(async () => {
  await open.destroy();
  await token.destroy();
});

test('/ui redirects to the repositories; pages carry the CSP and no-store', async () => {
  const res = await fetch(`${open.url}/ui`, { redirect: 'manual' });
  assert.equal(res.status, 302);
  assert.equal(res.headers.get('location'), '/ui/repos');
  const page = await fetch(`${open.url}/ui/repos`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self';/);
  assert.equal(page.headers.get('cache-control'), 'no-store');
  assert.match(await page.text(), /<h1>Repositories<\/h1>/);
});

test('static assets: htmx from its npm package, the stylesheet, nothing else', async () => {
  const htmx = await fetch(`${open.url}/ui/static/htmx.min.js`);
  assert.equal(htmx.status, 200);
  assert.match(htmx.headers.get('content-type') ?? '', /javascript/);
  assert.match(await htmx.text(), /htmx/);
  assert.equal((await fetch(`${open.url}/ui/static/ui.css`)).status, 200);
  assert.equal((await fetch(`${open.url}/ui/static/..%2Fpackage.json`)).status, 404);
  assert.equal((await fetch(`${open.url}/ui/static/app.ts`)).status, 404);
});

test('bad parameters are 400/404 pages, never 500', async () => {
  for (const [path, status] of [
    ['/ui/tags', 400],
    ['/ui/tags?repo=Bad..Name', 400],
    ['/ui/tags?repo=none/such', 404],
    ['/ui/manifest?repo=none/such&ref=v1', 404],
    ['/ui/manifest?repo=a/b&ref=%3Cnot%20a%20ref%3E', 404],
    ['/ui/unikernel?repo=none/such&tag=v1', 404],
  ] as const) {
    const res = await fetch(`${open.url}${path}`);
    assert.equal(res.status, status, path);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/, path);
  }
  const post = await fetch(`${open.url}/ui/delete`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(post.status, 400);
});

test('token mode: the UI says it needs basic or none', async () => {
  const res = await fetch(`${token.url}/ui/repos`);
  assert.equal(res.status, 405);
  assert.match(await res.text(), /auth\.mode basic or none/);
});
