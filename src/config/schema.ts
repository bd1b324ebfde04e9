/**
 * The configuration schema: one typed tree, strict (unknown keys are errors).
 * Every leaf can be overridden from the environment by a name derived from its
 * path (see ./env.ts): `http.addr` ↔ UNIREG_HTTP_ADDR.
 */
import { z } from 'zod';
import { authSchema } from './auth-schema.js';
import { duration, durationOrZero } from './duration.js';

export { durationMs } from './duration.js';

const hostPort = z
  .string()
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
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
    auth: authSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
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
