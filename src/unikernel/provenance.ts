/**
 * Provenance of a server-side pack: an in-toto Statement v1 whose predicate is
 * SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance), attached to the
 * packed variant manifest as an OCI referrer (artifactType and layer media type
 * `application/vnd.in-toto+json`, with the predicate type in the
 * `in-toto.io/predicate-type` annotation, the key BuildKit puts on its in-toto layers).
 *
 * It records what went in (the sha256 of the uploaded kernel, initrd and
 * .config), how it was packed (every pack parameter and the strategy), who
 * asked (the authenticated principal, when auth is on), with what (unireg's
 * version) and when. Field order is fixed: equal inputs give equal bytes.
 */
import type { Digest } from '../oci/digest.js';

export const PROVENANCE_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The buildType: what the parameters mean is documented at this URI's fragment in docs/unikernels.md. */
export const PACK_BUILD_TYPE = 'https://github.com/unireg/unireg/blob/main/docs/unikernels.md#provenance-of-server-side-packs';
/** The builder: unireg's server-side packer. */
export const PACK_BUILDER_ID = 'urn:unireg:builder:pack';
export const PredicateAnnotation = 'in-toto.io/predicate-type';

/** The hex of a sha256 digest, for in-toto's `{"sha256": hex}` digest sets. */
export function digestSet(digest: Digest | string): Record<string, string> {
  const colon = digest.indexOf(':');
  return { [digest.slice(0, colon)]: digest.slice(colon + 1) };
}

export interface ProvenanceInput {
  /** `host:port/repo`, as in the manifest's annotations. */
  name: string;
  repository: string;
  tag: string;
  manifest: Digest;
  parameters: {
    arch: string;
    plat: string;
    version: string | null;
    cmd: readonly string[];
    env: readonly string[];
    labels: Readonly<Record<string, string>>;
    strategy: string;
    urunc: boolean;
    bootExpect: string | null;
  };
  /** The inputs as uploaded: digests of the raw files (not of the layers). */
  kernel: { digest: Digest; size: number };
  initrd?: { digest: Digest; size: number } | undefined;
  kconfig?: { digest: Digest; size: number } | undefined;
  /** What the pack wrote. */
  config: Digest;
  layers: readonly { name: string; digest: Digest }[];
  /** The authenticated principal; undefined when auth is off or the caller is anonymous. */
  principal?: string | undefined;
  kconfigSkip: readonly string[];
  kraftkitVersion: string;
  uniregVersion: string;
  startedOn: string;
  finishedOn: string;
}

function dependency(name: string, file: { digest: Digest; size: number }) {
  return { name, digest: digestSet(file.digest), annotations: { size: file.size } };
}

/** The statement's exact bytes. */
export function provenanceStatement(input: ProvenanceInput): Buffer {
  const p = input.parameters;
  const dependencies = [dependency('kernel', input.kernel)];
  if (input.initrd) dependencies.push(dependency('initrd', input.initrd));
  if (input.kconfig) dependencies.push(dependency('.config', input.kconfig));
  return Buffer.from(
    JSON.stringify({
      _type: STATEMENT_TYPE,
      subject: [{ name: `${input.name}:${input.tag}`, digest: digestSet(input.manifest) }],
      predicateType: SLSA_PROVENANCE_V1,
      predicate: {
        buildDefinition: {
          buildType: PACK_BUILD_TYPE,
          externalParameters: {
            repository: input.repository,
            tag: input.tag,
            arch: p.arch,
            plat: p.plat,
            version: p.version,
            cmd: [...p.cmd],
            env: [...p.env],
            labels: { ...p.labels },
            strategy: p.strategy,
            urunc: p.urunc,
            bootExpect: p.bootExpect,
          },
          internalParameters: {
            ...(input.principal !== undefined ? { principal: input.principal } : {}),
            kconfigSkip: [...input.kconfigSkip],
            kraftkitVersion: input.kraftkitVersion,
          },
          resolvedDependencies: dependencies,
        },
        runDetails: {
          builder: { id: PACK_BUILDER_ID, version: { unireg: input.uniregVersion } },
          metadata: { startedOn: input.startedOn, finishedOn: input.finishedOn },
          byproducts: [{ name: 'config', digest: digestSet(input.config) }, ...input.layers.map((l) => ({ name: l.name, digest: digestSet(l.digest) }))],
        },
      },
    }),
  );
}
