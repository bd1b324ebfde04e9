/** What the corpus generators produce and what they know of the server's content. */

export interface CorpusRequest {
  /** The generator and variant, for the failure report. */
  kind: string;
  method: string;
  /**
   * The request target as sent. `{session}` is replaced by the path of a fresh
   * upload session of `session.repo` (opened, and prefilled, just before).
   */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Send the body with chunked transfer-encoding instead of a Content-Length. */
  chunked?: boolean;
  /** `as`: address the session under this repository name instead of its own. */
  session?: { repo: string; prefill: number; as?: string };
  /** Why this request must be refused (a 4xx): input no server should accept. */
  mustRefuse?: string;
}

/** Content pushed before the corpus runs. */
export interface Fixture {
  /** Only read by the corpus, or sent requests that cannot succeed; pulled byte-identical afterwards. */
  refRepo: string;
  refTag: string;
  refManifest: string;
  refBlobs: string[];
  /** Where the corpus may change things. */
  workRepo: string;
  workTags: string[];
  workManifest: string;
  workManifestBytes: Buffer;
  workBlobs: string[];
  /** A unikernel index (tag `uk`) and its bytes; a kernel blob for JSON packs. */
  ukTag: string;
  ukIndex: string;
  ukIndexBytes: Buffer;
  ukManifest: string;
  kernelBlob: string;
  /** A manifest that has a referrer. */
  subject: string;
}
