/**
 * The configuration schema: one typed tree, strict (unknown keys are errors).
 * Every leaf can be overridden from the environment by a name derived from its
 * path (see ./env.ts): `http.addr` ↔ UNIREG_HTTP_ADDR.
 */
import { z } from 'zod';
import { authSchema, REPO_GLOB } from './auth-schema.js';
import { duration, durationOrZero } from './duration.js';
import { immutableTagsSchema, retentionSchema } from './lifecycle-schema.js';
import { bootCheckSchema } from './unikernel-schema.js';
import { proxySchema } from './proxy-schema.js';
import { byteSize } from './size.js';
import { budgetRule } from './budgets-schema.js';
import { webhooksDeliverySchema, webhooksSchema } from './webhooks-schema.js';

export { durationMs } from './duration.js';
export { sizeBytes } from './size.js';

/** A byte quota shared by every repository the glob governs (most specific glob wins, as in access rules). */
const quota = z
  .object({
    repository: z.string().regex(REPO_GLOB, 'expected a repository name with optional * and ** wildcards'),
    bytes: byteSize,
  })
  .strict();

export type QuotaRule = z.infer<typeof quota>;

/** A bare port (`5653`, `:5653`, or a YAML number) is refused rather than guessed: 127.0.0.1:PORT and 0.0.0.0:PORT mean very different things. */
const barePort = (input: unknown) =>
  `expected host:port, not a bare port: write 127.0.0.1:${String(input).replace(/^:/, '')} (this machine only) ` +
  `or 0.0.0.0:${String(input).replace(/^:/, '')} (every interface, needs auth.mode)`;

const hostPort = z
  .string({ error: (issue) => (typeof issue.input === 'number' ? barePort(issue.input) : undefined) })
  .refine((v) => !/^:?\d+$/.test(v), { abort: true, error: (issue) => barePort(issue.input) })
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:5000')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port out of range');

export const configSchema = z
  .object({
    http: z
      .object({
        /** Listen address, host:port. */
        addr: hostPort.default('127.0.0.1:5000'),
        /** Seconds to let in-flight requests finish on shutdown before they are cut. */
        shutdownGrace: duration.default(10),
        /** A request body that receives no byte for this long (while the server waits for one) is cut off. */
        bodyIdleTimeout: duration.default(60),
        /** A connection that has not sent a complete request head this long after it began one gets 408 and is closed. */
        headersTimeout: duration.default(60),
        /** Open connections at most; beyond, requests get 503 TOOMANYREQUESTS and their connection is closed. */
        maxConnections: z.number().int().positive().default(1024),
        /** Bytes of request bodies held in memory at once (manifests, JSON and form bodies, multipart text fields), all requests together. */
        bodyBudget: z.number().int().positive().default(32 * 1024 * 1024),
        /** Serve HTTPS: PEM certificate chain and private key. Both empty (the default) means plain HTTP. */
        tls: z
          .object({
            certificate: z.string().default(''),
            key: z.string().default(''),
          })
          .strict()
          .prefault({})
          .refine((t) => (t.certificate === '') === (t.key === ''), 'set both certificate and key, or neither'),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        /** Data root: blobs, uploads and the LevelDB metadata live under it. */
        root: z.string().min(1).default('./storage'),
        blobs: z
          .object({
            /** Where blob content and upload bytes live: `fs` (under root) or `s3` (an S3-compatible bucket). */
            driver: z.enum(['fs', 's3']).default('fs'),
            /** Blob GETs answer 307 to a presigned URL of the object store instead of carrying the bytes (s3 only). */
            redirect: z.boolean().default(false),
            /** fs: upload bytes are written past the page cache (O_DIRECT) where the file system allows it. */
            directWrites: z.boolean().default(true),
            /** fs: threads that hash pushed bytes, at most; more than one start only while uploads run in parallel. */
            hashThreads: z.number().int().min(1).max(64).default(1),
            s3: z
              .object({
                /** The S3 endpoint URL (`http://127.0.0.1:7480`); empty: AWS's for the region. */
                endpoint: z.string().default(''),
                region: z.string().min(1).default('us-east-1'),
                bucket: z.string().default(''),
                /** Key prefix of every object unireg writes (`unireg` → `unireg/blobs/...`); empty: the bucket's root. */
                prefix: z.string().default(''),
                /** Credentials; both empty: the AWS SDK's default chain (AWS_* variables, shared files, instance roles). */
                accessKey: z.string().default(''),
                secretKey: z.string().default(''),
                /** Path-style URLs (`endpoint/bucket/key`), which most self-hosted S3 servers want. */
                forcePathStyle: z.boolean().default(false),
              })
              .strict()
              .prefault({})
              .refine((s) => (s.accessKey === '') === (s.secretKey === ''), 'set both accessKey and secretKey, or neither'),
          })
          .strict()
          .prefault({})
          .refine((b) => b.driver !== 's3' || b.s3.bucket !== '', { message: 'storage.blobs.s3.bucket is required with driver s3', path: ['s3', 'bucket'] })
          .refine((b) => !b.redirect || b.driver === 's3', { message: 'storage.blobs.redirect needs driver s3', path: ['redirect'] }),
        metadata: z
          .object({
            /** Where the metadata lives: `level` (LevelDB under root, one process) or `postgres` (shared by replicas). */
            driver: z.enum(['level', 'postgres']).default('level'),
            postgres: z
              .object({
                /** Connection URL, `postgresql://user:password@host:5432/db` (needed with driver postgres). */
                url: z.string().default(''),
                /** Connections of this process's query pool (the lock-wait pool has as many). */
                poolSize: z.number().int().positive().max(1000).default(10),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({})
          .refine((m) => m.driver !== 'postgres' || m.postgres.url !== '', {
            message: 'storage.metadata.postgres.url is required with driver postgres',
            path: ['postgres', 'url'],
          }),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** Serve Prometheus metrics at /metrics (main listener: callers granted the `metrics` action). */
        enabled: z.boolean().default(true),
        /** A second, plain-HTTP listener (host:port) serving /metrics, /livez and /readyz without authentication; empty: none. */
        addr: z
          .string()
          .default('')
          .superRefine((v, ctx) => {
            if (v === '') return;
            for (const issue of hostPort.safeParse(v).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message });
          }),
        /** Let metrics.addr be a non-loopback address (no authentication there: keep it on a private network). */
        allowNonLoopback: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    manifests: z
      .object({
        /** Largest manifest accepted, in bytes (the spec's recommended 4 MiB). */
        maxSize: z.number().int().positive().default(4 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    uploads: z
      .object({
        /** An upload session untouched for this long is removed with its data. */
        expiry: duration.default('24h'),
        /** Allow `mount` without `from` (automatic content discovery across repositories). */
        mountWithoutFrom: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    unikernel: z
      .object({
        /** How a push of unikernel variants to a tag that holds some combines with them: merge, overwrite, abort. */
        defaultStrategy: z.enum(['merge', 'overwrite', 'abort']).default('merge'),
        /** kconfig keys left out of os.features: paths on the build machine that say nothing about the kernel. */
        kconfigSkip: z.array(z.string().regex(/^[A-Za-z0-9_]+$/, 'expected a kconfig key')).default(['CONFIG_UK_APP', 'CONFIG_UK_BASE']),
        /** How kconfig filters match os.features: `kraft` (substring, as kraft pulls) or `exact`; `?match=` overrides. */
        kconfigMatch: z.enum(['kraft', 'exact']).default('kraft'),
        /** Per repository glob: the largest kernel layer and variant (manifest + config + layers) a push or pack may store. */
        budgets: z.array(budgetRule).default([]),
        /** Boot attestations: boot each emulable variant after a pack or push, record the result as a referrer. */
        bootCheck: bootCheckSchema,
        /** Every pack also adds urunc's annotations and /urunc.json (a pack's `urunc` field overrides). */
        urunc: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    deletes: z
      .object({
        /** Allow DELETE of manifests, tags and blobs; when off they answer 405 UNSUPPORTED. */
        enabled: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    gc: z
      .object({
        /** Nothing uploaded, linked or referenced by a manifest PUT within this long is collected. */
        grace: durationOrZero.default('1h'),
        /** `keep`, or how long a manifest no tag, index or subject reaches is kept before GC deletes it. */
        untagged: z.union([z.literal('keep'), durationOrZero]).default('keep'),
        /** `off`, or the interval between scheduled GC runs. */
        schedule: z.union([z.literal('off'), duration]).default('off'),
      })
      .strict()
      .prefault({}),
    tracing: z
      .object({
        /** OpenTelemetry traces (docs/tracing.md); the OTLP export is configured by the standard OTEL_* variables. */
        enabled: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    auth: authSchema,
    /** Which tags are deleted, per repository glob (file only; docs/retention.md). */
    retention: retentionSchema,
    /** Tags that can be pushed once and then neither moved nor deleted, per repository glob (file only). */
    immutableTags: immutableTagsSchema,
    /** Byte quotas per repository glob (file only): `[{ repository: 'team/**', bytes: '10GiB' }]`. */
    quotas: z
      .array(quota)
      .default([])
      .refine((list) => new Set(list.map((q) => q.repository)).size === list.length, 'a repository glob appears twice'),
    /** Where events are sent (file only; docs/webhooks.md). */
    webhooks: webhooksSchema,
    /** How they are sent: retries, backoff, timeout, concurrency. */
    webhooksDelivery: webhooksDeliverySchema,
    /** Pull-through cache of other registries (docs/proxy.md). */
    proxy: proxySchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.http.bodyBudget < config.manifests.maxSize) {
      ctx.addIssue({
        code: 'custom',
        path: ['http', 'bodyBudget'],
        message: `http.bodyBudget (${config.http.bodyBudget}) is smaller than manifests.maxSize (${config.manifests.maxSize}): the largest manifests could never be accepted`,
      });
    }
    if (config.metrics.addr !== '' && !config.metrics.allowNonLoopback && !isLoopback(config.metrics.addr)) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics', 'addr'],
        message:
          `metrics.addr ${config.metrics.addr} is not a loopback address, and the metrics listener has no authentication. ` +
          'Listen on 127.0.0.1, or set metrics.allowNonLoopback: true (UNIREG_METRICS_ALLOW_NON_LOOPBACK=true) when only a private network reaches it',
      });
    }
    if (config.auth.mode === 'none' && !config.auth.allowInsecureOpen && !isLoopback(config.http.addr)) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'mode'],
        message:
          `unireg would listen on ${config.http.addr} with no authentication: anyone who can reach it could push and delete. ` +
          'Set auth.mode to basic (users from auth.htpasswd or auth.users) or token, or listen on 127.0.0.1; ' +
          'to run open on purpose, set auth.allowInsecureOpen: true (UNIREG_AUTH_ALLOW_INSECURE_OPEN=true)',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Whether `host:port` names a loopback address, reachable only from this machine. */
export function isLoopback(addr: string): boolean {
  const host = addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
