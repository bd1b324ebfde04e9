/**
 * Boot attestations (opt-in `unikernel.bootCheck`): every emulable variant
 * manifest committed by a pack or a push is queued in the metadata store (key
 * family `a`), and one worker boots the queue one variant at a time in QEMU
 * (./qemu.ts: TCG, no network, memory cap, timeout, output cap, unprivileged
 * user), then attaches the result as an OCI referrer of the variant manifest
 * (./attestation.ts). A push waits for the queueing (one small durable write),
 * never for a boot. The queue is durable: a job is deleted only once its
 * attestation is stored, so a restart (or a crash) boots what was left, and a
 * boot cut short by shutdown is booted again on the next start. A job whose
 * boot was started MAX_ATTEMPTS times without finishing is dropped (logged).
 */
import { createWriteStream } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { BootCheckConfig, BootRule } from '../../config/unikernel-schema.js';
import { durationMs } from '../../config/duration.js';
import type { Digest } from '../../oci/digest.js';
import { isObject, type Descriptor } from '../../oci/descriptor.js';
import { GlobRules } from '../../policy/globs.js';
import type { CommittedManifest } from '../../registry/manifests.js';
import type { Registry } from '../../registry/registry.js';
import { jobKey } from '../../registry/locks.js';
import type { BootJob } from '../../storage/types.js';
import { UNIREG_VERSION } from '../../version.js';
import { rfc3339 } from '../image.js';
import { BLOCK_SIZE } from '../layer.js';
import { Annotation, tryNormalizeArch, tryNormalizePlat } from '../names.js';
import { isUnikernelManifest, type ManifestJson } from '../platform.js';
import { attachArtifact } from '../referrers.js';
import { parseJson, stringOf, TagVariants } from '../tag-variants.js';
import { attestationDocument, BOOT_ATTESTATION_TYPE, BootAnnotation, verdict, type BootContext } from './attestation.js';
import { bootUser } from './boot-user.js';
import { QEMU_BINARY, qemuVersion, startBoot, type BootArch, type BootUser, type RunningBoot } from './qemu.js';

/**
 * QEMU exit statuses that count as a clean end: 0 (the guest powered off) and 33,
 * what isa-debug-exit (port 0xf4) gives for the value 0x10: (0x10 << 1) | 1.
 */
export const EXIT_CODES: readonly number[] = [0, 33];

/** Boots of one job started without finishing before it is dropped. */
export const MAX_ATTEMPTS = 3;
/** Platforms (OCI `os`, normalised) whose kernels boot under `qemu-system-*`. */
const QEMU_PLATFORMS = new Set(['qemu']);

/** What a variant manifest needs for a boot. */
interface BootTarget {
  arch: BootArch;
  os: string;
  manifest: ManifestJson;
  kernel: Descriptor;
  initrd?: Descriptor | undefined;
  append: string;
}

class Skip extends Error {
  override readonly name = 'Skip';
}

export class BootService {
  private readonly rules: GlobRules<BootRule>;
  private readonly tagVariants: TagVariants;
  /** The QEMU version line of each architecture whose emulator is installed. */
  private readonly emulators = new Map<BootArch, string>();
  private user: BootUser | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private current: RunningBoot | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly config: BootCheckConfig,
    private readonly log: Logger,
  ) {
    this.rules = new GlobRules(config.repositories);
    this.tagVariants = new TagVariants(registry.deps);
  }

  /** Whether any repository has boot checks on (else nothing need be started). */
  static wanted(config: BootCheckConfig): boolean {
    return config.enabled || config.repositories.some((r) => r.enabled);
  }

  /** Whether the repository's variants are booted (the most specific rule decides, else `enabled`). */
  enabledFor(repo: string): boolean {
    return this.rules.ruleFor(repo)?.enabled ?? this.config.enabled;
  }

  /** Finds the emulators, resolves the boot user, and starts the worker on what is queued. */
  async start(): Promise<void> {
    for (const arch of Object.keys(QEMU_BINARY) as BootArch[]) {
      const version = await qemuVersion(QEMU_BINARY[arch]);
      if (version !== undefined) this.emulators.set(arch, version);
    }
    this.user = await bootUser(this.config.user);
    if (this.emulators.size === 0) {
      this.log.warn({ emulators: Object.values(QEMU_BINARY) }, 'boot checks are on but no QEMU system emulator is installed: nothing will be booted');
    } else {
      this.log.info({ emulators: [...this.emulators.keys()], user: this.user?.name ?? null }, 'boot checks on');
    }
    this.loop = this.run();
  }

  /** Stops the worker; a boot in progress is killed and stays queued for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.kill();
    this.wake?.();
    await this.loop;
  }

  /** The ManifestService listener: queues a committed variant manifest whose platform can be booted here. */
  readonly committed = async (write: CommittedManifest): Promise<void> => {
    if (write.parsed.subject !== undefined || !this.enabledFor(write.repo)) return;
    const json = write.parsed.json;
    if (!isUnikernelManifest(json)) return;
    const platform = await this.platformOf(write.repo, json);
    if (platform === undefined || !this.emulators.has(platform.arch) || !QEMU_PLATFORMS.has(platform.os)) return;
    // Booted once per manifest digest: a re-push of the same bytes (kraft re-pushes every variant) is not booted again.
    const referrers = await this.registry.deps.meta.listReferrers(write.repo, write.record.digest, { limit: 1000 });
    if (referrers.some((d) => d.artifactType === BOOT_ATTESTATION_TYPE)) return;
    await this.registry.deps.meta.enqueueBootJobs([{ repo: write.repo, manifest: write.record.digest }]);
    this.wake?.();
  };

  private async platformOf(repo: string, manifest: ManifestJson): Promise<{ arch: BootArch; os: string } | undefined> {
    let arch = stringOf(isObject(manifest.config.platform) ? manifest.config.platform.architecture : undefined);
    let os = stringOf(isObject(manifest.config.platform) ? manifest.config.platform.os : undefined);
    if (arch === undefined || os === undefined) {
      const config = await this.tagVariants.readConfig(repo, manifest.config);
      arch = stringOf(config?.architecture);
      os = stringOf(config?.os);
    }
    const a = arch === undefined ? undefined : tryNormalizeArch(arch);
    const o = os === undefined ? undefined : tryNormalizePlat(os);
    if (a === undefined || o === undefined || (a !== 'x86_64' && a !== 'arm64')) return undefined;
    return { arch: a, os: o };
  }

  private async run(): Promise<void> {
    const { meta } = this.registry.deps;
    while (!this.stopped) {
      let job: BootJob | undefined;
      try {
        [job] = await meta.listBootJobs({ limit: 1 });
      } catch (err) {
        this.log.error({ err }, 'cannot read the boot queue');
      }
      if (job === undefined) {
        // Nothing queued (or the store failed): sleep until a push queues one, or a minute passes.
        await new Promise<void>((resolveWait) => {
          const timer = setTimeout(resolveWait, 60_000);
          this.wake = () => {
            clearTimeout(timer);
            resolveWait();
          };
        });
        this.wake = undefined;
        continue;
      }
      try {
        // One boot at a time across every process sharing the store (Locks: in-process here, shared with replicas).
        const turn = await this.registry.deps.locks.tryRun(jobKey('boot-check'), () => this.process(job));
        if (!turn.acquired) await new Promise((r) => setTimeout(r, 5_000));
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof Skip) {
          this.log.info({ repo: job.repo, manifest: job.manifest, reason: err.message }, 'boot check skipped');
          await meta.deleteBootJob(job.key).catch((e: unknown) => this.log.error({ err: e }, 'cannot drop a boot job'));
          continue;
        }
        // A storage failure: leave the job queued and try again a little later.
        this.log.error({ err, repo: job.repo, manifest: job.manifest }, 'boot check failed; it stays queued');
        await new Promise((r) => setTimeout(r, 5_000));
      }
    }
  }

  private async process(queued: BootJob): Promise<void> {
    const { meta } = this.registry.deps;
    const job = await meta.startBootJob(queued.key);
    if (job === undefined) return;
    const log = this.log.child({ repo: job.repo, manifest: job.manifest });
    if (job.attempts > MAX_ATTEMPTS) {
      log.error({ attempts: job.attempts - 1 }, 'dropping a boot check that never finished');
      await meta.deleteBootJob(job.key);
      return;
    }
    // Skip (thrown by target() or extract()) drops the job in run().
    const target = await this.target(job.repo, job.manifest);
    const record = await meta.getManifest(job.repo, job.manifest);
    if (record === undefined) return meta.deleteBootJob(job.key);
    const expected = stringOf(target.manifest.annotations?.[BootAnnotation.Expect]) ?? this.rules.ruleFor(job.repo)?.expectedOutput ?? this.config.expectedOutput;
    const dir = await mkdtemp(join(tmpdir(), 'unireg-boot-'));
    try {
      if (this.user !== undefined) await chown(dir, this.user.uid, this.user.gid);
      await chmod(dir, 0o700);
      const kernel = join(dir, 'kernel');
      await this.extract(job.repo, target.kernel, kernel);
      const initrd = target.initrd ? join(dir, 'initrd') : undefined;
      if (target.initrd && initrd) await this.extract(job.repo, target.initrd, initrd);
      const startedAt = new Date();
      const spec = {
        arch: target.arch,
        kernel,
        initrd,
        append: target.append,
        memoryMiB: this.config.memory,
        timeoutMs: durationMs(this.config.timeout),
        logFile: join(dir, 'qemu.log'),
        user: this.user,
      };
      this.current = startBoot(spec);
      const run = await this.current.result.finally(() => (this.current = undefined));
      // Killed by shutdown: no verdict; the job stays queued for the next start.
      if (this.stopped) return;
      const context: BootContext = {
        repository: job.repo,
        manifest: job.manifest,
        platform: { architecture: target.arch, os: target.os },
        kernel: target.kernel.digest,
        expected: expected === '' ? undefined : expected,
        qemuVersion: this.emulators.get(target.arch) ?? '',
        exitCodes: EXIT_CODES,
        memoryMiB: this.config.memory,
        timeoutMs: spec.timeoutMs,
        user: this.user?.name ?? null,
        uniregVersion: UNIREG_VERSION,
        startedAt: startedAt.toISOString(),
      };
      const v = verdict(run, EXIT_CODES, context.expected);
      const subject: Descriptor = { mediaType: record.mediaType, digest: record.digest, size: record.bytes.length };
      const digest = await attachArtifact(this.registry, job.repo, subject, {
        artifactType: BOOT_ATTESTATION_TYPE,
        blob: attestationDocument(context, run, v),
        annotations: { [BootAnnotation.Status]: v.status, [BootAnnotation.Created]: rfc3339(new Date()) },
      });
      log.info({ status: v.status, reason: v.reason, ms: run.ms, attestation: digest }, 'boot check done');
      await meta.deleteBootJob(job.key);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The variant's manifest, kernel (and initrd) layers, platform and command line; Skip when it cannot be booted. */
  private async target(repo: string, digest: Digest): Promise<BootTarget> {
    const record = await this.registry.deps.meta.getManifest(repo, digest);
    if (record === undefined) throw new Skip('the manifest is gone');
    const json = parseJson(record.bytes);
    if (!isUnikernelManifest(json)) throw new Skip('not a unikernel manifest');
    const platform = await this.platformOf(repo, json);
    if (platform === undefined || !this.emulators.has(platform.arch) || !QEMU_PLATFORMS.has(platform.os)) {
      throw new Skip('no emulator for its platform');
    }
    const annotated = (l: Descriptor, key: string) => isObject(l.annotations) && typeof l.annotations[key] === 'string';
    const kernel = json.layers.find((l) => annotated(l, Annotation.KernelImage));
    if (kernel === undefined) throw new Skip('no kernel layer');
    const initrd = json.layers.find((l) => annotated(l, Annotation.KernelInitrd));
    const config = await this.tagVariants.readConfig(repo, json.config);
    const run = config !== undefined && isObject(config.config) ? config.config : {};
    const cmd = Array.isArray(run.Cmd) && run.Cmd.every((c) => typeof c === 'string') ? (run.Cmd as string[]) : [];
    return { ...platform, manifest: json, kernel, initrd, append: cmd.join(' ') };
  }

  /** Writes the file inside a one-entry layer tar (kraft's layout) to `dest`. */
  private async extract(repo: string, layer: Descriptor, dest: string): Promise<void> {
    const blobs = this.registry.blobs;
    if (typeof layer.size !== 'number' || layer.size < BLOCK_SIZE) throw new Skip(`layer ${layer.digest} is not a tar`);
    const header = await buffer((await blobs.read(repo, layer.digest, { start: 0, end: BLOCK_SIZE - 1 })).stream);
    const field = header.subarray(124, 136).toString('latin1').replace(/[\0 ]+$/g, '').trim();
    const size = /^[0-7]+$/.test(field) ? parseInt(field, 8) : NaN;
    if (!Number.isSafeInteger(size) || size <= 0 || BLOCK_SIZE + size > layer.size) throw new Skip(`layer ${layer.digest} holds no file`);
    const body = await blobs.read(repo, layer.digest, { start: BLOCK_SIZE, end: BLOCK_SIZE + size - 1 });
    await pipeline(body.stream, createWriteStream(dest, { mode: 0o644 }));
    await chmod(dest, 0o644);
  }
}
