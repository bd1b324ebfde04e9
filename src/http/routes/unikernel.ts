/**
 * Unikernel endpoints:
 *   POST /v2/<name>/_unikraft/pack       multipart (kernel, initrd, kconfig parts) or JSON (blob digests)
 *   GET  /v2/<name>/_unikraft/variants   the variants each tag holds
 *   GET  /v2/<name>/_unikraft/diff       features and sizes that changed between two variants (?from=&to=)
 *   GET  /_unikraft/search               variants with kconfig features, across the repositories the caller may pull
 * (kconfig filtering of manifest GETs lives with the manifest routes.)
 */
import type { Context } from 'koa';
import { jsonDepth, MAX_JSON_DEPTH } from '../../oci/json-scan.js';
import { ManifestTooLargeError, RequestInvalidError } from '../../domain/errors.js';
import { parseMatch } from '../../unikernel/filter.js';
import { PackService, type FileSource, type PackRequest } from '../../unikernel/pack-service.js';
import { VariantsService } from '../../unikernel/variants-service.js';
import { SearchService } from '../../unikernel/search-service.js';
import { DiffService } from '../../unikernel/diff-service.js';
import { leaseOf, withBodyLease, type BodyLease } from '../body-budget.js';
import { manifestLocation } from '../locations.js';
import { readMultipart } from '../multipart.js';
import { pageParams, queryList, queryString, readLimited, repoParam, setNextLink } from '../params.js';
import { jsonBody } from '../respond.js';
import type { RouteGroup } from './types.js';

const MAX_JSON = 1 << 20;
/** Largest .config accepted (as a file part, a field or in JSON): real ones are tens to hundreds of KiB. */
const MAX_KCONFIG = 1 << 20;
/** Largest value of any other multipart field (tag, arch, cmd, env, label, ...). */
const MAX_FIELD = 64 * 1024;
const HOST = /^[A-Za-z0-9.\-:[\]]{1,255}$/;

/** How clients name the repository (`host:port/repo`), for kraft's annotations. */
function displayName(ctx: Context, repo: string): string {
  return HOST.test(ctx.host) ? `${ctx.host}/${repo}` : repo;
}

function strings(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new RequestInvalidError(`${field} must be a string or a list of strings`, { field });
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new RequestInvalidError(`${field} must be a string`, { field });
  return value;
}

/** A yes/no field: `true`/`false` (also 1/0, yes/no, on/off); absent or empty: undefined (the server default). */
function flag(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (/^(true|1|yes|on)$/i.test(value.trim())) return true;
    if (/^(false|0|no|off)$/i.test(value.trim())) return false;
  }
  throw new RequestInvalidError(`${field} must be true or false`, { field });
}

/** `labels` of the JSON form: a string → string object, or `KEY=VALUE` strings. */
function labelsOf(value: unknown): string[] | Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return strings(value, 'labels');
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new RequestInvalidError(`labels.${k} must be a string`, { field: 'labels', label: k });
  }
  return value as Record<string, string>;
}

/** The JSON form: kernel and initrd are digests of blobs uploaded to the repository beforehand. */
async function jsonRequest(ctx: Context, repo: string, lease: BodyLease): Promise<PackRequest> {
  let bytes: Buffer;
  try {
    bytes = await readLimited(ctx, MAX_JSON, lease);
  } catch (err) {
    if (err instanceof ManifestTooLargeError) throw new RequestInvalidError('JSON body too large');
    throw err;
  }
  if (jsonDepth(bytes, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new RequestInvalidError(`JSON body nests deeper than ${MAX_JSON_DEPTH} levels`, { limit: MAX_JSON_DEPTH });
  }
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RequestInvalidError('body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestInvalidError('body must be a JSON object');
  const b = body as Record<string, unknown>;
  const digestSource = (field: string): FileSource | undefined => {
    const value = optionalString(b[field], field);
    return value === undefined ? undefined : { kind: 'blob', digest: value };
  };
  const labels = b.labels ?? b.label;
  return {
    repo,
    displayName: displayName(ctx, repo),
    tag: optionalString(b.tag, 'tag'),
    arch: optionalString(b.arch, 'arch'),
    plat: optionalString(b.plat, 'plat'),
    version: optionalString(b.version, 'version'),
    strategy: optionalString(b.strategy, 'strategy'),
    cmd: strings(b.cmd, 'cmd'),
    env: strings(b.env, 'env'),
    labels: labelsOf(labels),
    kernel: digestSource('kernel'),
    initrd: digestSource('initrd'),
    kconfig: optionalString(b.kconfig, 'kconfig'),
    urunc: flag(b.urunc, 'urunc'),
    bootExpect: optionalString(b.bootExpect, 'bootExpect'),
  };
}

export const unikernelRoutes: RouteGroup = (router, { registry, guard, bodies, config }) => {
  const packer = new PackService(registry);
  const variants = new VariantsService(registry);
  const searcher = new SearchService(registry.deps.meta);
  const differ = new DiffService(registry);

  router.get('/v2/*name/_unikraft/diff', guard.repo('pull'), async (ctx) => {
    const repo = repoParam(ctx);
    const from = queryString(ctx, 'from');
    const to = queryString(ctx, 'to');
    if (!from || !to) throw new RequestInvalidError('from and to (a tag or digest each) are required', { from, to });
    const query = {
      arch: queryString(ctx, 'arch'),
      plat: queryString(ctx, 'plat'),
      kconfig: queryList(ctx, 'kconfig'),
      match: parseMatch(queryString(ctx, 'match'), registry.deps.config.unikernel.kconfigMatch),
    };
    jsonBody(ctx, await differ.diff(repo, from, to, query));
  });

  // Reveals repository names like the catalog does: the catalog's guard, then only repositories the caller may pull.
  router.get('/_unikraft/search', guard.catalog, async (ctx) => {
    const { n, last } = pageParams(ctx);
    const kconfig = queryList(ctx, 'kconfig');
    const arch = queryString(ctx, 'arch');
    const plat = queryString(ctx, 'plat');
    const matchParam = queryString(ctx, 'match');
    const match = parseMatch(matchParam, registry.deps.config.unikernel.kconfigMatch);
    const caller = guard.callerOf(ctx);
    const page = await searcher.search({ kconfig, arch, plat, match, n, last }, (repo) => caller.visible(repo));
    if (page.next !== undefined) {
      const params: [string, string][] = [
        ['n', String(n)],
        ['last', page.next],
      ];
      for (const k of kconfig) params.push(['kconfig', k]);
      if (arch) params.push(['arch', arch]);
      if (plat) params.push(['plat', plat]);
      if (matchParam) params.push(['match', match]);
      setNextLink(ctx, '/_unikraft/search', params);
    }
    jsonBody(ctx, { match, results: page.results });
  });

  router.post('/v2/*name/_unikraft/pack', guard.repo('pull', 'push'), withBodyLease(bodies), async (ctx) => {
    const repo = repoParam(ctx);
    const type = ctx.request.type;
    let request: PackRequest;
    let cleanup = async () => {};
    if (type === 'multipart/form-data') {
      const form = await readMultipart(ctx.req, {
        fileParts: ['kernel', 'initrd'],
        textParts: { kconfig: MAX_KCONFIG },
        maxField: MAX_FIELD,
        lease: leaseOf(ctx),
        tmpPath: () => registry.deps.layout.tmpPath(),
      });
      cleanup = form.cleanup;
      const field = (name: string) => form.fields.get(name)?.at(-1);
      const file = (name: string): FileSource | undefined => {
        const path = form.files.get(name);
        return path === undefined ? undefined : { kind: 'file', path };
      };
      request = {
        repo,
        displayName: displayName(ctx, repo),
        tag: field('tag'),
        arch: field('arch'),
        plat: field('plat'),
        version: field('version'),
        strategy: field('strategy'),
        cmd: form.fields.get('cmd') ?? [],
        env: form.fields.get('env') ?? [],
        labels: form.fields.get('label') ?? [],
        kernel: file('kernel'),
        initrd: file('initrd'),
        kconfig: form.texts.get('kconfig') ?? field('kconfig'),
        urunc: flag(field('urunc'), 'urunc'),
        bootExpect: field('bootExpect'),
      };
    } else if (type === 'application/json') {
      request = await jsonRequest(ctx, repo, leaseOf(ctx));
    } else {
      throw new RequestInvalidError('send multipart/form-data (kernel file parts) or application/json (blob digests)');
    }
    // Who packed it, for the provenance: the authenticated principal when auth is on.
    if (config.auth.mode !== 'none') request.principal = guard.callerOf(ctx).principal.name;
    try {
      const result = await packer.pack(request);
      jsonBody(ctx, result);
      ctx.status = 201;
      ctx.set('Location', manifestLocation(repo, result.index));
      ctx.set('Docker-Content-Digest', result.index);
    } finally {
      await cleanup();
    }
  });

  router.get('/v2/*name/_unikraft/variants', guard.repo('pull'), async (ctx) => {
    const repo = repoParam(ctx);
    const { n, last } = pageParams(ctx);
    const tag = queryString(ctx, 'tag') || undefined;
    const arch = queryString(ctx, 'arch');
    const plat = queryString(ctx, 'plat');
    const kconfig = queryList(ctx, 'kconfig');
    const matchParam = queryString(ctx, 'match');
    const match = parseMatch(matchParam, registry.deps.config.unikernel.kconfigMatch);
    const page = await variants.list(repo, { tag, arch, plat, kconfig, match, n, last });
    if (page.next !== undefined) {
      // The next page keeps every filter, kconfig repeated as given.
      const params: [string, string][] = [
        ['n', String(n)],
        ['last', page.next],
      ];
      if (arch) params.push(['arch', arch]);
      if (plat) params.push(['plat', plat]);
      for (const k of kconfig) params.push(['kconfig', k]);
      if (matchParam) params.push(['match', match]);
      setNextLink(ctx, `/v2/${repo}/_unikraft/variants`, params);
    }
    // Variants whose stored content is malformed are named under `skipped`, with the reason.
    jsonBody(ctx, {
      repository: repo,
      ...(page.budget !== undefined ? { budget: page.budget } : {}),
      variants: page.variants,
      ...(page.skipped.length > 0 ? { skipped: page.skipped } : {}),
    });
  });
};
