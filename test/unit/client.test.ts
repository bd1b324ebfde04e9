/**
 * The client side of `unireg` (src/client/): reference parsing, credentials,
 * the streaming multipart body (parsed back with busboy, as the server does),
 * argument binding and the output formats.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import busboy from 'busboy';
import { bindValues } from '../../src/client/args.js';
import {
  basicAuthorization,
  CredentialsError,
  dockerConfigPath,
  normalizeAuthKey,
  resolveCredentials,
} from '../../src/client/credentials.js';
import { describeFailure, oneLine } from '../../src/client/http.js';
import { MultipartFileError, multipartBody, type PartInput } from '../../src/client/multipart.js';
import { formatPackResult } from '../../src/client/pack-command.js';
import { formatProgress } from '../../src/client/progress.js';
import { baseUrl, parseTarget, TargetError } from '../../src/client/target.js';
import { formatVariants, humanSize, matchingFeatures, nextLink, shortDigest } from '../../src/client/variants-command.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'unireg-client-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('target HOST:PORT/REPO[:TAG]', () => {
  test('host, port, repository and tag; tag defaults to latest', () => {
    const t = parseTarget('127.0.0.1:5000/hello');
    assert.deepEqual(t, { host: '127.0.0.1:5000', hostname: '127.0.0.1', port: 5000, repo: 'hello', tag: 'latest', tagGiven: false, scheme: 'http' });
    const u = parseTarget('localhost:5000/apps/nginx:v1.2_rc-3');
    assert.equal(u.repo, 'apps/nginx');
    assert.equal(u.tag, 'v1.2_rc-3');
    assert.equal(u.tagGiven, true);
    assert.equal(baseUrl(u), 'http://localhost:5000');
  });

  test('IPv6 literals in brackets', () => {
    const t = parseTarget('[::1]:5000/repo:dev');
    assert.equal(t.hostname, '::1');
    assert.equal(t.port, 5000);
    assert.equal(t.host, '[::1]:5000');
    assert.equal(t.repo, 'repo');
    assert.equal(t.tag, 'dev');
    assert.equal(t.scheme, 'http', '::1 is loopback');
    assert.equal(baseUrl(t), 'http://[::1]:5000');
    const v = parseTarget('[fd00::5]/a/b');
    assert.equal(v.port, undefined);
    assert.equal(v.scheme, 'https');
  });

  test('HOST/REPO without a port', () => {
    const t = parseTarget('registry.example.com/team/app');
    assert.equal(t.hostname, 'registry.example.com');
    assert.equal(t.port, undefined);
    assert.equal(t.repo, 'team/app');
    assert.equal(baseUrl(t), 'https://registry.example.com');
  });

  test('scheme: http for loopback, https otherwise, --plain-http and an explicit prefix override', () => {
    for (const host of ['127.0.0.1:5000', '127.1.2.3', 'localhost', 'LOCALHOST:80', 'reg.localhost:5000', '[::1]']) {
      assert.equal(parseTarget(`${host}/r`).scheme, 'http', host);
    }
    for (const host of ['10.0.0.1:5000', 'registry.example.com', '[fd00::1]:5000', '128.0.0.1']) {
      assert.equal(parseTarget(`${host}/r`).scheme, 'https', host);
      assert.equal(parseTarget(`${host}/r`, { plainHttp: true }).scheme, 'http', host);
    }
    assert.equal(parseTarget('http://registry.example.com/r').scheme, 'http');
    assert.equal(parseTarget('https://localhost:5000/r:t').scheme, 'https');
    assert.equal(parseTarget('https://localhost:5000/r:t').tag, 't');
  });

  test('invalid references are refused with a reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['hello', /not HOST:PORT\/REPO/],
      ['127.0.0.1:5000/', /not HOST:PORT\/REPO/],
      ['/hello', /not HOST:PORT\/REPO/],
      ['127.0.0.1:5000/Hello', /invalid repository name "Hello"/],
      ['127.0.0.1:5000/a//b', /invalid repository name/],
      ['127.0.0.1:5000/hello:', /invalid tag ""/],
      ['127.0.0.1:5000/hello:-x', /invalid tag "-x"/],
      ['127.0.0.1:5000/hello@sha256:abc', /digest reference/],
      ['127.0.0.1:99999/hello', /invalid port "99999"/],
      ['127.0.0.1:0/hello', /invalid port "0"/],
      ['127.0.0.1:http/hello', /invalid port/],
      ['::1:5000/hello', /IPv6 address in brackets/],
      ['[::1/hello', /unterminated IPv6/],
      ['[::1]x/hello', /expected :PORT/],
      ['[zz]:5000/hello', /invalid IPv6/],
      ['bad_host:5000/hello', /invalid host/],
    ];
    for (const [ref, why] of cases) {
      assert.throws(() => parseTarget(ref), (err: unknown) => err instanceof TargetError && why.test(err.message), ref);
    }
  });
});

describe('credentials', () => {
  const secret = 's3cr:et+pässword';
  let home: string;
  const entry = (user: string, pass: string) => ({ auth: Buffer.from(`${user}:${pass}`).toString('base64') });

  before(async () => {
    home = join(work, 'home');
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({
        auths: {
          '127.0.0.1:5000': entry('alice', secret),
          'https://registry.example.com/v2/': entry('bob', 'hunter2'),
          'user-pass.example.com': { username: 'carol', password: 'pw' },
          'broken.example.com': { auth: Buffer.from('no-colon').toString('base64') },
        },
        credsStore: 'desktop',
      }),
    );
  });

  test('the config path: $DOCKER_CONFIG, else $HOME/.docker', () => {
    assert.equal(dockerConfigPath({ HOME: '/h' }), '/h/.docker/config.json');
    assert.equal(dockerConfigPath({ HOME: '/h', DOCKER_CONFIG: '/d' }), '/d/config.json');
    assert.equal(normalizeAuthKey('https://Registry.example.com:443/v2/'), 'registry.example.com:443');
  });

  test('auths[host].auth from ~/.docker/config.json (HOME override), keys with scheme and path too', async () => {
    const alice = await resolveCredentials({ host: '127.0.0.1:5000', env: { HOME: home } });
    assert.equal(alice?.username, 'alice');
    assert.equal(alice?.password, secret);
    assert.equal(alice?.source, join(home, '.docker', 'config.json'));
    assert.equal(basicAuthorization(alice!), `Basic ${Buffer.from(`alice:${secret}`).toString('base64')}`);
    assert.equal((await resolveCredentials({ host: 'registry.example.com', env: { HOME: home } }))?.username, 'bob');
    assert.equal((await resolveCredentials({ host: 'user-pass.example.com', env: { HOME: home } }))?.password, 'pw');
    assert.equal(await resolveCredentials({ host: '127.0.0.1:5001', env: { HOME: home } }), undefined, 'other port: none');
    assert.equal(await resolveCredentials({ host: '127.0.0.1:5000', env: { HOME: join(work, 'nohome') } }), undefined, 'no file: none');
  });

  test('the real process HOME is used by default', async () => {
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      assert.equal((await resolveCredentials({ host: '127.0.0.1:5000' }))?.username, 'alice');
    } finally {
      process.env.HOME = saved;
    }
  });

  test('--user/--password win over the config file; --password-stdin reads the password', async () => {
    const explicit = await resolveCredentials({ host: '127.0.0.1:5000', user: 'dave', password: 'x', env: { HOME: home } });
    assert.deepEqual(explicit, { username: 'dave', password: 'x', source: '--user' });
    const piped = await resolveCredentials({ host: 'h', user: 'erin', passwordStdin: Readable.from([Buffer.from('from stdin\n')]), env: {} });
    assert.equal(piped?.password, 'from stdin');
  });

  test('inconsistent options and malformed entries fail without showing any secret', async () => {
    const fails = async (opts: Parameters<typeof resolveCredentials>[0], why: RegExp) => {
      await assert.rejects(resolveCredentials(opts), (err: unknown) => {
        assert.ok(err instanceof CredentialsError);
        assert.match(err.message, why);
        assert.ok(!err.message.includes(secret) && !err.message.includes('no-colon'), 'no secret in the message');
        return true;
      });
    };
    await fails({ host: 'h', user: 'u', env: {} }, /--user needs --password/);
    await fails({ host: 'h', password: secret, env: {} }, /need --user/);
    await fails({ host: 'h', user: 'a:b', password: secret, env: {} }, /without ":"/);
    await fails({ host: 'h', user: 'u', password: secret, passwordStdin: Readable.from(['x']), env: {} }, /one of --password/);
    await fails({ host: 'h', user: 'u', passwordStdin: Readable.from([]), env: {} }, /empty/);
    await fails({ host: 'broken.example.com', env: { HOME: home } }, /auth entry for broken\.example\.com is not base64/);
    const bad = join(work, 'badjson');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'config.json'), `{"auths": {"h": {"auth": "${secret}"`);
    await fails({ host: 'h', env: { DOCKER_CONFIG: bad } }, /is not valid JSON/);
  });
});

interface Parsed {
  fields: Array<[string, string]>;
  files: Map<string, { filename: string; mimeType: string; data: Buffer }>;
}

/** Parses a body the way the server does (busboy). */
async function parseWithBusboy(contentType: string, body: Buffer): Promise<Parsed> {
  const fields: Parsed['fields'] = [];
  const files: Parsed['files'] = new Map();
  const parser = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8' });
  const done = new Promise<void>((resolve, reject) => {
    parser.on('field', (name, value) => fields.push([name, value]));
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => files.set(name, { filename: info.filename ?? '', mimeType: info.mimeType, data: Buffer.concat(chunks) }));
    });
    parser.on('close', resolve);
    parser.on('error', reject);
  });
  parser.end(body);
  await done;
  return { fields, files };
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out);
}

describe('multipart body', () => {
  test('Content-Length is exact and busboy reads back every field and file byte for byte', async () => {
    const kernel = join(work, 'kernel.bin');
    // Random bytes with CRLF and boundary-like runs inside, across the 1 MiB read size.
    const kernelBytes = Buffer.concat([randomBytes(1 << 20), Buffer.from('\r\n--\r\n------unireg-\r\n\r\n'), randomBytes(12345)]);
    await writeFile(kernel, kernelBytes);
    const config = join(work, '.config');
    await writeFile(config, 'CONFIG_HZ=100\n# CONFIG_X is not set\n');
    const empty = join(work, 'empty.cpio');
    await writeFile(empty, '');
    const parts: PartInput[] = [
      { kind: 'field', name: 'tag', value: 'latest' },
      { kind: 'field', name: 'cmd', value: '--greeting=héllo wörld' },
      { kind: 'field', name: 'cmd', value: 'line one\r\nline two' },
      { kind: 'field', name: 'env', value: '' },
      { kind: 'field', name: 'we"i\\rd', value: 'quoted "name"' },
      { kind: 'file', name: 'kconfig', path: config, contentType: 'text/plain' },
      { kind: 'file', name: 'initrd', path: empty },
      { kind: 'file', name: 'kernel', path: kernel },
    ];
    const body = await multipartBody(parts);
    assert.match(body.contentType, /^multipart\/form-data; boundary=----unireg-[0-9a-f]{48}$/);
    let progressed = 0;
    const bytes = await collect(body.chunks((n) => (progressed += n)));
    assert.equal(bytes.length, body.length, 'Content-Length computed up front matches the bytes');
    assert.equal(progressed, body.length, 'progress counts every byte');
    const parsed = await parseWithBusboy(body.contentType, bytes);
    assert.deepEqual(parsed.fields, [
      ['tag', 'latest'],
      ['cmd', '--greeting=héllo wörld'],
      ['cmd', 'line one\r\nline two'],
      ['env', ''],
      ['we"i\\rd', 'quoted "name"'],
    ]);
    assert.deepEqual([...parsed.files.keys()], ['kconfig', 'initrd', 'kernel']);
    assert.ok(parsed.files.get('kernel')!.data.equals(kernelBytes), 'kernel bytes intact');
    assert.equal(parsed.files.get('kernel')!.filename, 'kernel.bin');
    assert.equal(parsed.files.get('kernel')!.mimeType, 'application/octet-stream');
    assert.equal(parsed.files.get('kconfig')!.data.toString(), 'CONFIG_HZ=100\n# CONFIG_X is not set\n');
    assert.equal(parsed.files.get('kconfig')!.mimeType, 'text/plain');
    assert.equal(parsed.files.get('initrd')!.data.length, 0);
  });

  test('a fixed boundary gives the exact RFC 7578 layout', async () => {
    const file = join(work, 'tiny');
    await writeFile(file, 'abc');
    const body = await multipartBody(
      [
        { kind: 'field', name: 'arch', value: 'x86_64' },
        { kind: 'file', name: 'kernel', path: file, filename: 'k\u00e9"rn\nel' },
      ],
      'BOUNDARY',
    );
    const expected =
      '--BOUNDARY\r\nContent-Disposition: form-data; name="arch"\r\n\r\nx86_64\r\n' +
      '--BOUNDARY\r\nContent-Disposition: form-data; name="kernel"; filename="k_\\"rn_el"\r\n' +
      'Content-Type: application/octet-stream\r\n\r\nabc\r\n--BOUNDARY--\r\n';
    assert.equal((await collect(body.chunks())).toString('latin1'), expected);
    assert.equal(body.length, Buffer.byteLength(expected));
  });

  test('missing files, directories and files that change size are reported by part and path', async () => {
    await assert.rejects(multipartBody([{ kind: 'file', name: 'kernel', path: join(work, 'nope') }]), (err: unknown) => {
      assert.ok(err instanceof MultipartFileError);
      assert.equal(err.message, `cannot read --kernel ${join(work, 'nope')}: no such file`);
      return true;
    });
    await assert.rejects(multipartBody([{ kind: 'file', name: 'initrd', path: work }]), /cannot read --initrd .*: is a directory/);
    const growing = join(work, 'growing');
    await writeFile(growing, Buffer.alloc(1000, 1));
    const body = await multipartBody([{ kind: 'file', name: 'kernel', path: growing }]);
    await writeFile(growing, Buffer.alloc(3000, 1));
    await assert.rejects(collect(body.chunks()), /--kernel .*growing: changed size while it was sent \(was 1000 bytes\)/);
    const shrinking = await multipartBody([{ kind: 'file', name: 'kernel', path: growing }]);
    await truncate(growing, 10);
    await assert.rejects(collect(shrinking.chunks()), /changed size/);
  });
});

describe('arguments and output', () => {
  test('bindValues lets option values start with a dash', () => {
    assert.deepEqual(bindValues(['--cmd', '-v', '--cmd', '--x', '--json', 'h/r', '--', '--cmd', 'y'], ['cmd']), [
      '--cmd=-v',
      '--cmd=--x',
      '--json',
      'h/r',
      '--',
      '--cmd',
      'y',
    ]);
    assert.deepEqual(bindValues(['--cmd=a', '--cmd'], ['cmd']), ['--cmd=a', '--cmd'], 'a trailing option is left for parseArgs to refuse');
  });

  test('OCI error bodies become one line: status, code and message', () => {
    const body = Buffer.from(
      JSON.stringify({
        errors: [{ code: 'MANIFEST_INVALID', message: 'invalid unikernel kconfig: line 2: expected KEY=VALUE', detail: { line: 2 } }],
      }),
    );
    assert.equal(describeFailure(400, 'Bad Request', body), '400 MANIFEST_INVALID: invalid unikernel kconfig: line 2: expected KEY=VALUE');
    const two = Buffer.from(JSON.stringify({ errors: [{ code: 'A', message: 'one\ntwo' }, { code: 'B' }] }));
    assert.equal(describeFailure(400, 'Bad Request', two), '400 A: one two; B');
    assert.equal(describeFailure(502, 'Bad Gateway', Buffer.from('<html>\n<b>oops</b>\n</html>')), '502 Bad Gateway: <html> <b>oops</b> </html>');
    assert.equal(describeFailure(500, 'Internal Server Error', Buffer.alloc(0)), '500 Internal Server Error');
    assert.equal(oneLine('a\r\n  b\nc  '), 'a b c');
  });

  test('sizes, digests, features, Link and progress formatting', () => {
    assert.equal(humanSize(0), '0 B');
    assert.equal(humanSize(1023), '1023 B');
    assert.equal(humanSize(1536), '1.5 KiB');
    assert.equal(humanSize(5 * 1024 * 1024), '5.0 MiB');
    assert.equal(humanSize(undefined), '-');
    assert.equal(shortDigest(`sha256:${'ab'.repeat(32)}`), 'sha256:abababababab');
    assert.deepEqual(matchingFeatures(['CONFIG_HZ=100', 'CONFIG_HZ_X=1', 'CONFIG_A=y'], ['CONFIG_HZ', 'CONFIG_A=y']), ['CONFIG_HZ=100', 'CONFIG_A=y']);
    assert.deepEqual(matchingFeatures(['CONFIG_HZ=100', 'CONFIG_HZ_X=1', 'CONFIG_A=y'], ['CONFIG_HZ', 'CONFIG_A=y'], 'kraft'), ['CONFIG_HZ=100', 'CONFIG_HZ_X=1', 'CONFIG_A=y']);
    assert.equal(nextLink('</v2/r/_unikraft/variants?n=1&last=a>; rel="next"'), '/v2/r/_unikraft/variants?n=1&last=a');
    assert.equal(nextLink(undefined), undefined);
    assert.equal(formatProgress('to h/r:t', 50_000_000, 100_000_000, 2), 'uploading  50%  50.0/100.0 MB  25.0 MB/s  to h/r:t');
  });

  test('the variants table is aligned, with counts or matching features', () => {
    const variants = [
      { tag: 'latest', arch: 'x86_64', plat: 'qemu', version: '0.17.0', kernelSize: 2048, imageSize: 4096, features: ['CONFIG_HZ=100', 'CONFIG_PLAT_KVM=y'], manifest: `sha256:${'1'.repeat(64)}` },
      { tag: 'v1', arch: 'arm64', plat: 'fc', kernelSize: 3 * 1024 * 1024, imageSize: 4 * 1024 * 1024, overBudget: ['maxImageSize'], features: [], manifest: `sha256:${'2'.repeat(64)}` },
    ];
    assert.equal(
      formatVariants(variants),
      [
        'TAG     ARCH    PLAT  VERSION  KERNEL   IMAGE    FEATURES  MANIFEST',
        'latest  x86_64  qemu  0.17.0   2.0 KiB  4.0 KiB  2         sha256:111111111111',
        'v1      arm64   fc    -        3.0 MiB  4.0 MiB  0         sha256:222222222222',
        '',
      ].join('\n'),
    );
    assert.equal(
      formatVariants(variants, [], { budget: { rule: '**', maxImageSize: 1 << 20 } }),
      [
        'TAG     ARCH    PLAT  VERSION  KERNEL   IMAGE    BUDGET             FEATURES  MANIFEST',
        'latest  x86_64  qemu  0.17.0   2.0 KiB  4.0 KiB  ok                 2         sha256:111111111111',
        'v1      arm64   fc    -        3.0 MiB  4.0 MiB  over maxImageSize  0         sha256:222222222222',
        '',
      ].join('\n'),
    );
    assert.match(formatVariants(variants, ['CONFIG_HZ']), /latest .* CONFIG_HZ=100 +sha256:1{12}\n/);
  });

  test('the pack summary names every digest', () => {
    const d = (c: string) => `sha256:${c.repeat(64)}`;
    const text = formatPackResult(parseTarget('127.0.0.1:5000/hello:v1'), {
      repository: 'hello',
      tag: 'v1',
      index: d('a'),
      manifest: d('b'),
      config: d('c'),
      platform: { architecture: 'x86_64', os: 'qemu', 'os.version': '0.17.0', 'os.features': ['X=y'] },
      layers: [
        { digest: d('d'), size: 2048, annotations: { 'org.unikraft.kernel.image': '/unikraft/bin/kernel' } },
        { digest: d('e'), size: 1536, annotations: { 'org.unikraft.kernel.initrd': '/unikraft/bin/initrd' } },
      ],
      strategy: 'merge',
    });
    assert.equal(
      text,
      [
        'packed 127.0.0.1:5000/hello:v1 (strategy merge)',
        `index:     ${d('a')}`,
        `manifest:  ${d('b')}`,
        `config:    ${d('c')}`,
        'platform:  x86_64/qemu, version 0.17.0, 1 feature',
        `layers:    ${d('d')}  kernel, 2048 bytes`,
        `           ${d('e')}  initrd, 1536 bytes`,
        '',
      ].join('\n'),
    );
  });
});
