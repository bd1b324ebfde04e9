/** Pure parts of the pull-through cache: upstream matching and names, challenges, the token cache. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { redactConfig, REDACTED } from '../../src/config/redact.js';
import { parseChallenge } from '../../src/proxy/challenge.js';
import { TokenCache } from '../../src/proxy/token-cache.js';
import { Upstreams } from '../../src/proxy/upstreams.js';

const upstreams = (list: unknown[]) => new Upstreams(configSchema.parse({ proxy: { upstreams: list } }).proxy.upstreams);

describe('proxy upstreams', () => {
  const u = upstreams([
    { prefix: 'hub', url: 'https://registry-1.docker.io', default: true, exclude: ['library/secret'] },
    { prefix: 'mirrors/quay', url: 'https://quay.io/', include: ['prometheus/**'] },
    { prefix: 'local', url: 'http://127.0.0.1:5001' },
  ]);

  test('a prefix maps to the upstream name; Docker Hub names of one component get library/', () => {
    assert.deepEqual(u.match('hub/alpine')?.remote, 'library/alpine');
    assert.deepEqual(u.match('hub/library/alpine')?.remote, 'library/alpine');
    assert.deepEqual(u.match('hub/bitnami/redis')?.remote, 'bitnami/redis');
    assert.equal(u.match('mirrors/quay/prometheus/node-exporter')?.upstream.url, 'https://quay.io');
    assert.equal(u.match('local/one')?.remote, 'one', 'other registries: no library/');
    assert.equal(u.match('hubx/alpine'), undefined);
    assert.equal(u.match('hub'), undefined);
  });

  test('include and exclude apply to the upstream name; the prefix still refuses pushes', () => {
    assert.equal(u.match('hub/library/secret'), undefined);
    assert.equal(u.match('hub/secret'), undefined, 'library/secret after normalisation');
    assert.equal(u.match('mirrors/quay/coreos/etcd'), undefined);
    assert.equal(u.prefixOf('mirrors/quay/coreos/etcd')?.prefix, 'mirrors/quay');
  });

  test('?ns= picks the upstream by host (docker.io and its aliases are one); otherwise the default one', () => {
    assert.equal(u.localName('library/alpine', 'docker.io'), 'hub/library/alpine');
    assert.equal(u.localName('alpine', 'index.docker.io'), 'hub/library/alpine');
    assert.equal(u.localName('prometheus/x', 'quay.io'), 'mirrors/quay/prometheus/x');
    assert.equal(u.localName('one', '127.0.0.1:5001'), 'local/one');
    assert.equal(u.localName('library/alpine', undefined), 'hub/library/alpine');
    assert.equal(u.localName('one', 'ghcr.io'), undefined, 'an unknown namespace is served as it is');
    assert.equal(u.localName('hub/alpine', 'docker.io'), undefined, 'already under a prefix');
    assert.equal(upstreams([{ prefix: 'a', url: 'http://x:1' }]).localName('library/alpine', undefined), undefined, 'no default upstream');
  });

  test('the config refuses two defaults, nested prefixes, half credentials, a /v2/ URL; passwords are redacted', () => {
    const bad = (list: unknown[]) => assert.throws(() => configSchema.parse({ proxy: { upstreams: list } }));
    bad([{ prefix: 'a', url: 'http://x:1', default: true }, { prefix: 'b', url: 'http://y:1', default: true }]);
    bad([{ prefix: 'a', url: 'http://x:1' }, { prefix: 'a/b', url: 'http://y:1' }]);
    bad([{ prefix: 'a', url: 'http://x:1', username: 'u' }]);
    bad([{ prefix: 'a', url: 'http://x:1/v2/' }]);
    bad([{ prefix: 'A', url: 'http://x:1' }]);
    const config = configSchema.parse({ proxy: { upstreams: [{ prefix: 'a', url: 'http://x:1', username: 'u', password: 'hunter2' }] } });
    assert.equal(redactConfig(config).proxy.upstreams[0]?.password, REDACTED);
    assert.equal(redactConfig(config).proxy.upstreams[0]?.username, 'u');
  });
});

describe('upstream challenges and tokens', () => {
  test('Bearer challenges give realm, service and scope; Basic is recognised; others are not usable', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), {
      scheme: 'bearer',
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    });
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic' });
    assert.equal(parseChallenge('Bearer service="x"'), undefined, 'no realm');
    assert.equal(parseChallenge('Negotiate abc'), undefined);
    assert.equal(parseChallenge(null), undefined);
  });

  test('tokens are reused until shortly before expiry, one request for concurrent callers', async () => {
    const cache = new TokenCache();
    let calls = 0;
    const fetchToken = async () => {
      calls++;
      return { token: `t${calls}`, expires_in: 300 };
    };
    const [a, b] = await Promise.all([cache.obtain('k', fetchToken), cache.obtain('k', fetchToken)]);
    assert.equal(a, 't1');
    assert.equal(b, 't1');
    assert.equal(await cache.obtain('k', fetchToken), 't1');
    assert.equal(calls, 1);
    assert.equal(cache.get('k', Date.now() + 295_000), undefined, 'dropped before it expires');
    assert.equal(await cache.obtain('k', fetchToken), 't2');
    await assert.rejects(new TokenCache().obtain('x', async () => ({ expires_in: 60 })), /without a token/);
  });
});
