/**
 * The deployment files must not drift from the code:
 * - deploy/unireg.example.yaml loads, lists every setting with its default
 *   value and names every setting's environment variable;
 * - every UNIREG_* name in the deploy files is a real setting (unknown ones
 *   stop the server at start-up);
 * - docker-compose.yml validates with `docker-compose config` and the
 *   environment it sets (plus the Dockerfile's) is a valid configuration,
 *   with Basic authentication from the htpasswd file it mounts;
 * - the commented access-rule example in the example file is valid, and the
 *   compose health check is the Dockerfile's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ENV_SETTINGS } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { requireTool, run } from '../helpers/tools.js';

/** The repository root: three levels up from dist/test/unit, else the working directory. */
function repoRoot(): string {
  const fromUrl = fileURLToPath(new URL('../../../', import.meta.url));
  if (existsSync(join(fromUrl, 'deploy', 'unireg.example.yaml'))) return fromUrl;
  return process.cwd();
}

const ROOT = repoRoot();
const EXAMPLE = join(ROOT, 'deploy', 'unireg.example.yaml');
const DEPLOY_FILES = ['deploy/unireg.example.yaml', 'deploy/Dockerfile', 'deploy/unireg.service', 'deploy/README.md', 'docker-compose.yml', 'deploy/replicated/docker-compose.yml', 'deploy/replicated/unireg.yaml', 'deploy/kubernetes-replicated/deployment.yaml', 'deploy/kubernetes-replicated/storage.env.example'];
/** UNIREG_ variables that are not settings. */
const NOT_SETTINGS = new Set(['UNIREG_CONFIG']);

/** Leaves of a plain object tree as [dotted path, value]. */
function leaves(value: unknown, path: string[] = []): Array<[string, unknown]> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [[path.join('.'), value]];
}

function lookup(tree: unknown, dotted: string): { found: boolean; value?: unknown } {
  let node = tree;
  for (const key of dotted.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return { found: false };
    node = (node as Record<string, unknown>)[key];
  }
  return { found: true, value: node };
}

test('the example configuration loads and equals the defaults', async () => {
  const loaded = await loadConfig({ file: EXAMPLE, env: {} });
  assert.deepEqual(loaded, configSchema.parse({}));
});

test('the example configuration states every default explicitly', () => {
  const raw: unknown = parseYaml(readFileSync(EXAMPLE, 'utf8'));
  for (const [path, value] of leaves(configSchema.parse({}))) {
    const entry = lookup(raw, path);
    assert.ok(entry.found, `${path} is missing from deploy/unireg.example.yaml`);
    assert.deepEqual(entry.value, value, `${path} in deploy/unireg.example.yaml is not the default`);
  }
});

test('the example configuration states the settings whose default is an empty map, and says they are file-only', () => {
  const raw: unknown = parseYaml(readFileSync(EXAMPLE, 'utf8'));
  const text = readFileSync(EXAMPLE, 'utf8');
  for (const path of ['auth.users', 'auth.groups', 'auth.access']) {
    assert.ok(lookup(raw, path).found, `${path} is missing from deploy/unireg.example.yaml`);
    const key = path.split('.').at(-1)!;
    // The comment block just above the key says so.
    const above = text.slice(0, text.search(new RegExp(`^  ${key}:`, 'm'))).split(/\n\s*\n/).at(-1) ?? '';
    assert.match(above, /File only/, `the comment above ${path} should say it is file-only`);
  }
  assert.deepEqual(lookup(raw, 'auth.users').value, {});
  assert.deepEqual(lookup(raw, 'auth.groups').value, {});
});

test('the commented access-rule example in the example configuration is valid', async () => {
  const lines = readFileSync(EXAMPLE, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^  #   access:$/.test(l));
  assert.ok(start >= 0, 'no "#   access:" example');
  const block: string[] = [];
  for (const line of lines.slice(start)) {
    if (!/^  #   /.test(line)) break;
    block.push(line.slice('  #'.length));
  }
  const example = parseYaml(`auth:\n${block.join('\n')}`) as { auth: { access: { repository: string }[] } };
  assert.deepEqual(
    example.auth.access.map((r) => r.repository),
    ['public/**', 'team/*', '**'],
  );
  const hash = '$2y$04$AElhLCufAAFci9HgcHJ.nO9GB/5KRL55/N49NC1Ins2jWehIYlcIK';
  const parsed = configSchema.safeParse({
    auth: { mode: 'basic', users: { alice: hash, bob: hash }, groups: { devs: ['alice'] }, access: example.auth.access },
  });
  assert.ok(parsed.success, parsed.success ? '' : parsed.error.message);
  // It uses each kind of principal the text describes.
  const principals = new Set(parsed.data.auth.access.flatMap((r) => Object.keys(r.grants)));
  for (const p of ['anonymous', 'authenticated', 'group:devs', 'alice']) assert.ok(principals.has(p), p);
});

test('the example configuration names every environment variable', () => {
  const text = readFileSync(EXAMPLE, 'utf8');
  for (const setting of ENV_SETTINGS) {
    assert.match(text, new RegExp(`Env: ${setting.env}\\b`), `${setting.path.join('.')}: no "Env: ${setting.env}" line`);
  }
});

test('the deploy files only mention UNIREG_ variables that exist', () => {
  const known = new Set(ENV_SETTINGS.map((s) => s.env));
  for (const file of DEPLOY_FILES) {
    const path = join(ROOT, file);
    if (!existsSync(path)) continue;
    for (const name of readFileSync(path, 'utf8').match(/\bUNIREG_[A-Z0-9_]*[A-Z0-9]/g) ?? []) {
      assert.ok(known.has(name) || NOT_SETTINGS.has(name), `${file} mentions ${name}, which is not a setting`);
    }
  }
});

/** `ENV A=1 B=2` settings of the Dockerfile (continuation lines joined). */
/** The Dockerfile's HEALTHCHECK command (exec form). */
function dockerfileHealthcheck(): string[] {
  const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const m = /^HEALTHCHECK\s.*?\bCMD\s+(\[.*\])\s*$/m.exec(text);
  assert.ok(m, 'the Dockerfile has a HEALTHCHECK in exec form');
  return JSON.parse(m[1]!) as string[];
}

function dockerfileEnv(): Record<string, string> {
  const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const i = pair.indexOf('=');
      if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  return env;
}

test('docker-compose.yml validates with docker-compose config', async (t) => {
  if (!(await requireTool(t, 'docker-compose'))) return;
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('COMPOSE_') || key.startsWith('UNIREG_')) delete env[key];
  const run = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env, encoding: 'utf8' });
  assert.equal(run.status, 0, `docker-compose config failed:\n${run.stderr}`);
  assert.match(run.stdout, /^\s+unireg:$/m, 'the output names the unireg service');
  assert.match(run.stdout, /:\/var\/lib\/unireg\b/, 'the output mounts a volume at /var/lib/unireg');

  const doc = parseYaml(run.stdout) as {
    services: Record<string, { volumes?: unknown[]; environment?: Record<string, string | null>; healthcheck?: { test?: unknown } }>;
  };
  const service = doc.services.unireg;
  assert.ok(service, 'service unireg');
  const mounts = (service.volumes ?? []).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  assert.ok(mounts.some((m) => /:\/var\/lib\/unireg(:|$)|"target":"\/var\/lib\/unireg"/.test(m)), `mounts: ${mounts.join(', ')}`);

  // What the container would see: the image's ENV, then compose's environment.
  const containerEnv: NodeJS.ProcessEnv = { ...dockerfileEnv() };
  for (const [k, v] of Object.entries(service.environment ?? {})) if (v !== null) containerEnv[k] = String(v);
  const config = await loadConfig({ env: containerEnv });
  assert.equal(config.storage.root, '/var/lib/unireg');
  assert.equal(config.http.addr, '0.0.0.0:5000');
  // 0.0.0.0 needs authentication: Basic, with users from the htpasswd file mounted read-only.
  assert.equal(config.auth.mode, 'basic');
  assert.notEqual(config.auth.htpasswd, '');
  const target = config.auth.htpasswd;
  const htpasswdMount = (service.volumes ?? []).find((v) =>
    typeof v === 'string' ? v.split(':')[1] === target : (v as { target?: string }).target === target,
  );
  assert.ok(htpasswdMount, `no volume mounted at ${target}: ${mounts.join(', ')}`);
  const readOnly =
    typeof htpasswdMount === 'string' ? htpasswdMount.split(':').slice(2).join(':').split(',').includes('ro') : (htpasswdMount as { read_only?: boolean }).read_only === true;
  assert.ok(readOnly, `${JSON.stringify(htpasswdMount)} should be read-only`);
  const source = typeof htpasswdMount === 'string' ? htpasswdMount.split(':')[0]! : String((htpasswdMount as { source?: string }).source);
  assert.equal(source, join(ROOT, 'deploy', 'htpasswd'), 'the htpasswd file the compose comments tell the user to create');

  // The same health check as the image's (compose writes the exec form with a leading CMD).
  assert.deepEqual(service.healthcheck?.test, ['CMD', ...dockerfileHealthcheck()]);
});

test('the Dockerfile needs no frontend image and compiles src/ only', async () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  assert.doesNotMatch(dockerfile, /^#\s*syntax\s*=/im, 'a # syntax= line makes every build pull a frontend image (air-gapped builds fail)');
  // The builder stage: what it copies and what it compiles.
  const builder = dockerfile.split(/^FROM\s/m).find((stage) => /\bAS builder\b/i.test(stage.split('\n')[0]!));
  assert.ok(builder, 'a stage named builder');
  const copied = [...builder.matchAll(/^COPY\s+(?!--from)(.*)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
  for (const source of copied) assert.match(source, /^(package(-lock)?\.json|tsconfig(\.build)?\.json|src)$/, `the builder copies ${source}: only what the build of src/ needs`);
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const builds = [...builder.matchAll(/^RUN\s+npm run (\S+)/gm)].map((m) => m[1]!);
  assert.deepEqual(builds, ['build:src']);
  assert.equal(scripts['build:src'], 'tsc -p tsconfig.build.json');
  // What that tsconfig compiles: src/ and nothing else of the repository.
  const listed = await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--listFilesOnly'], { cwd: ROOT, timeout: 60_000 });
  const ours = listed.stdout.split('\n').filter((f) => f.startsWith(ROOT) && !f.includes('/node_modules/'));
  assert.ok(ours.some((f) => f.endsWith('/src/cli.ts')), 'src/cli.ts is compiled');
  const outside = ours.filter((f) => !f.startsWith(join(ROOT, 'src') + '/'));
  assert.deepEqual(outside, [], 'tsconfig.build.json compiles only src/');
});

test('the image alone (no auth settings) is refused with a message that says how to enable auth', async () => {
  const p = await loadConfig({ env: dockerfileEnv() }).then(
    () => assert.fail('the image without auth settings should be refused'),
    (err: unknown) => (err as { problems: string[] }).problems,
  );
  assert.ok(p.some((x) => x.startsWith('auth.mode') && /auth\.mode to basic/.test(x) && /allowInsecureOpen/.test(x)), p.join('\n'));
});
