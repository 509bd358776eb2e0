// What may be added to a job submitted through the v2 API beyond the spec's own fields: a webhook to
// call when it ends, asset references to resolve, and so on. An extension names the body fields
// and headers it reads (any other body field is refused, so nothing a client sends is silently
// dropped), may refuse the request or rewrite the graph before it is validated, and keeps what it
// needs with the job, in the job's v2 record (the door's side table, written with the job).
import type { ComfyPrompt } from '../comfy/protocol.js';
import type { Principal } from '../engine/index.js';
import type { Job } from '../jobs/job.js';

/** A request to make a job, as an extension sees it before the job is recorded. */
export interface JobRequest {
  readonly who: Principal;
  /** The JSON body as sent. */
  readonly body: Readonly<Record<string, unknown>>;
  /** A request header, or undefined. */
  header(name: string): string | undefined;
  /** The alias, for a curated workflow (POST /api/v2/workflows/{alias}/jobs). */
  readonly workflow?: string;
  /** The graph to run (POST /api/v2/jobs): an extension may rewrite values in it before it is validated. */
  prompt?: ComfyPrompt;
  /** Input files the graph names, sent to the backend before it runs: an extension may add some. */
  uploads: string[];
}

export interface JobExtension {
  /** Its name: what `prepare` returns is kept with the job under this name. */
  readonly name: string;
  /** Body fields it reads, besides `workflow` (a field the spec reserves, such as `webhook_url`, is accepted once an extension reads it). */
  readonly fields?: readonly string[];
  /** Headers it reads: their values count as part of the request for Idempotency-Key. */
  readonly headers?: readonly string[];
  /**
   * Check what it reads (throw a V2Error to refuse the request), rewrite the graph if it must, and
   * return what to keep with the job (undefined: nothing).
   */
  prepare?(request: JobRequest): unknown | Promise<unknown>;
  /** A value a file input (LoadImage's image) may take although no backend lists it, because the extension sends the file along. */
  stored?(value: string, who: Principal): boolean;
  /** The job was recorded with what `prepare` returned. */
  accepted?(job: Job, kept: unknown): void;
}

/** The door's record of a job it made: kept in its side table, written with the job and dropped with it. */
export interface V2Record {
  /** What each extension kept, by its name. */
  extensions?: Record<string, unknown>;
}
