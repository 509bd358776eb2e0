// The Comfy API v2 door's side of the engine: a graph or a curated workflow becomes an engine job
// (door 'v2'), and any job the caller may see (from any door) is shown as the spec's Job object,
// cancelled, and followed as an event stream. Every action is for a caller, through
// engine.as(who): another key's job answers exactly as a missing one.
//
// Every v2 job of one API key is submitted as the same engine client, V2_CLIENT: the key's own
// space. So MAX_JOBS_PER_CLIENT bounds a key's unfinished v2 jobs.
import type { ServerResponse } from 'node:http';
import type { Engine, JobEvent, Principal, SideTable } from '../engine/index.js';
import { DuplicateJobError } from '../engine/index.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import type { ComfyPrompt } from '../comfy/protocol.js';
import { newId } from '../ids.js';
import { logger } from '../log.js';
import { V2Error } from './errors.js';
import type { JobExtension, JobRequest, V2Record } from './extensions.js';
import { IdempotencyKeys, checkKey, fingerprint } from './idempotency.js';
import type { Recorded } from './idempotency.js';
import { CANCELS, CancelMarks } from './cancels.js';
import { LatestPreviews } from './previews.js';
import type { Preview } from './previews.js';
import { NodeProgress } from './node-progress.js';
import { OutputSizes } from './output-sizes.js';
import { jobOutputs } from './outputs.js';
import { expiresAt, isFinalEvent, jobView, outputView, progressView, queuePosition, statusOf } from './job-view.js';
import type { JobStatus, JobView, OutputView, ProgressView } from './job-view.js';
import { checkGraph, checkGraphLimits, readEnvelope, withFields } from './submission.js';
import { JobSubmission, WorkflowJobSubmission } from './openapi.js';
import { JobFeed } from './job-feed.js';
import type { FeedSource } from './job-feed.js';
import { EventStream, STREAM_LIMITS } from './sse.js';

const log = logger('v2');

/** This door's name on its jobs, and the name of its side table. */
export const V2_DOOR = 'v2';
/** The engine client every v2 job of a key is submitted as. */
export const V2_CLIENT = 'v2';
/** Event streams count against the socket quotas under this door name, one "client" per job. */
const STREAMS = 'v2-events';
/** How often open streams look at their job's status (queue_position moves without an event of its own). */
const STATUS_TICK_MS = 1000;
/** How often expired keys and settled cancel marks are dropped (by the dispatcher). */
const SWEEP_MS = 60_000;
/** How long a view waits for output sizes from the backends. */
const SIZE_WAIT_MS = 2000;

/** The tier a body asks for, as the engine takes it (null or absent: the key's default). */
function tierOf(priority: string | null | undefined): { tier?: string } {
  return priority == null ? {} : { tier: priority };
}

/** A request to the door: who asks, what they sent, and where links should point. */
export interface DoorRequest {
  who: Principal;
  body: unknown;
  header(name: string): string | undefined;
  /** The origin the client reached (http://host:port), or '' for relative links. */
  base: string;
}

/** The answer to a job submission. */
export interface Submitted {
  status: number;
  body: unknown;
  /** Replayed from an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

export interface V2Options {
  extensions?: readonly JobExtension[];
}

export class V2Door implements FeedSource {
  private readonly records: SideTable<V2Record>;
  private readonly keys: IdempotencyKeys;
  private readonly cancels: CancelMarks;
  private readonly previews = new LatestPreviews();
  private readonly nodes = new NodeProgress();
  private readonly sizes: OutputSizes;
  private readonly feeds = new Map<string, JobFeed>();
  private readonly extensions: readonly JobExtension[];
  /** The bodies' schemas from the OpenAPI document, with the fields extensions read. */
  readonly graphBody: typeof JobSubmission;
  readonly workflowBody: typeof WorkflowJobSubmission;
  private readonly stops: (() => void)[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly engine: Engine,
    options: V2Options = {},
  ) {
    this.records = engine.doorTable<V2Record>(V2_DOOR);
    this.keys = new IdempotencyKeys(engine, engine.config.idempotencyTtlMs);
    this.cancels = new CancelMarks(engine);
    this.sizes = new OutputSizes(engine, SIZE_WAIT_MS);
    this.extensions = options.extensions ?? [];
    const fields = this.extensions.flatMap((e) => e.fields ?? []);
    this.graphBody = withFields(JobSubmission, fields);
    this.workflowBody = withFields(WorkflowJobSubmission, fields);
    this.stops.push(
      engine.events.subscribe((event) => {
        if ('jobId' in event) this.hear(event);
        else if (event.kind === 'removed') for (const { jobId } of event.jobs) this.dropJob(jobId);
      }),
    );
    this.stops.push(engine.onRecord((collection, id) => collection === CANCELS && this.feeds.get(id)?.statusChanged()));
    this.timers.push(setInterval(() => this.feeds.forEach((f) => f.statusChanged()), STATUS_TICK_MS));
    this.timers.push(setInterval(() => void this.sweep(), SWEEP_MS));
    for (const t of this.timers) t.unref();
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
    for (const t of this.timers.splice(0)) clearInterval(t);
    for (const feed of [...this.feeds.values()]) feed.close();
    this.feeds.clear();
  }

  // ── submitting ────────────────────────────────────────────────────────────────────────────

  /** POST /api/v2/jobs: check the graph, then record and queue it (once per Idempotency-Key). */
  async submitGraph(req: DoorRequest): Promise<Submitted> {
    const { workflow, priority } = readEnvelope(this.graphBody, req.body, 'invalid_workflow');
    checkGraphLimits(workflow);
    const body = req.body as Record<string, unknown>;
    return this.once(req, '/api/v2/jobs', async (jobId) => {
      const request: JobRequest = { who: req.who, body, header: req.header, prompt: structuredClone(workflow) as ComfyPrompt, uploads: [] };
      const kept = await this.prepare(request);
      const prompt = checkGraph(request.prompt ?? workflow, await this.engine.pool.objectInfo(), (value) => this.extensions.some((e) => e.stored?.(value, req.who)));
      return this.submitted(jobId, kept, () =>
        this.engine.as(req.who).submit({ id: jobId, clientId: V2_CLIENT, door: V2_DOOR, prompt, uploads: request.uploads, ...tierOf(priority), ...this.tables(kept) }),
      );
    });
  }

  /** POST /api/v2/workflows/{alias}/jobs: a curated workflow with the client's input values. */
  async submitWorkflow(alias: string, req: DoorRequest): Promise<Submitted> {
    if (!this.engine.catalog.get(alias)) throw new V2Error(404, 'not_found', `no workflow is named ${JSON.stringify(alias.slice(0, 100))}`);
    const body = (req.body === undefined ? {} : req.body) as Record<string, unknown>;
    const { inputs = {}, priority } = readEnvelope(this.workflowBody, body, 'invalid_inputs');
    return this.once(req, `/api/v2/workflows/${alias}/jobs`, async (jobId) => {
      const kept = await this.prepare({ who: req.who, body, header: req.header, workflow: alias, uploads: [] });
      // A refusal of the inputs (invalid_inputs) is told by v2Errors, with every problem.
      return this.submitted(jobId, kept, () => this.engine.as(req.who).submitWorkflow(V2_CLIENT, { ...inputs, workflow: alias }, V2_DOOR, { id: jobId, ...tierOf(priority), ...this.tables(kept) }));
    });
  }

  /** Run `make` at most once per Idempotency-Key (and per key's tenant); answer 201 with the job. */
  private async once(req: DoorRequest, path: string, make: (jobId: string) => Promise<Job>): Promise<Submitted> {
    const key = checkKey(req.header('idempotency-key'));
    const answer = (job: Job): Recorded => ({ status: 201, body: this.viewNow(job, req.base) });
    if (key === undefined) return { ...answer(await make(newId())), replayed: false };
    const headers = this.extensions.flatMap((e) => e.headers ?? []).map((h) => [h.toLowerCase(), req.header(h) ?? null]);
    const print = fingerprint(['POST', path, req.body, headers]);
    const begun = await this.keys.begin(req.who.tenant, key, print, (jobId) => {
      const job = this.engine.as(req.who).get(jobId);
      return job && answer(job);
    });
    if (begun.kind === 'replay') return { ...begun.response, replayed: true };
    const { claimed } = begun;
    let response: Recorded;
    try {
      response = answer(await make(claimed.jobId));
    } catch (err) {
      await claimed.abandon().catch((e) => log.warn(`giving an Idempotency-Key back failed: ${(e as Error).message}`));
      throw err;
    }
    await claimed.finish(response);
    return { ...response, replayed: false };
  }

  /** Each extension's look at the request, and what it keeps. */
  private async prepare(request: JobRequest): Promise<Record<string, unknown>> {
    const kept: Record<string, unknown> = {};
    for (const ext of this.extensions) {
      const value = await ext.prepare?.(request);
      if (value !== undefined) kept[ext.name] = value;
    }
    return kept;
  }

  /** The job's v2 record, written with it: only when an extension kept something. */
  private tables(kept: Record<string, unknown>): { tables?: Record<string, V2Record> } {
    return Object.keys(kept).length ? { tables: { [V2_DOOR]: { extensions: kept } } } : {};
  }

  /** Submit; a job already made under this id (a request that died half-way made it) is the answer. */
  private async submitted(jobId: string, kept: Record<string, unknown>, submit: () => Promise<{ job: Job }>): Promise<Job> {
    let job: Job;
    try {
      ({ job } = await submit());
    } catch (err) {
      const made = err instanceof DuplicateJobError ? this.engine.get(jobId) : undefined;
      if (!made) throw err;
      return made;
    }
    for (const ext of this.extensions) ext.accepted?.(job, kept[ext.name]);
    return job;
  }

  /** What this door keeps with a job it made (what extensions kept); undefined when nothing. */
  recordOf(jobId: string): V2Record | undefined {
    return this.records.get(jobId);
  }

  // ── looking, cancelling ───────────────────────────────────────────────────────────────────

  /** A job the caller may see; 404 otherwise. */
  job(who: Principal, id: string): Job {
    const job = id.length <= 200 ? this.engine.as(who).get(id) : undefined;
    if (!job) throw new V2Error(404, 'not_found', `no job ${JSON.stringify(id.slice(0, 100))}`);
    return job;
  }

  /** The Job object, with the sizes of its outputs asked of the backends first. */
  async view(job: Job, base: string): Promise<JobView> {
    // Outputs made while the sizes were asked are asked too (a few rounds at most).
    const asked = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const fresh = jobOutputs(job).filter((o) => !asked.has(o.id));
      if (fresh.length === 0) break;
      for (const o of fresh) asked.add(o.id);
      await this.sizes.learn(fresh);
    }
    return this.viewNow(job, base);
  }

  private viewNow(job: Job, base: string): JobView {
    return jobView({
      job,
      now: Date.now(),
      position: this.engine.position(job.id),
      cancelAsked: this.cancels.asked(job.id),
      started: this.started(job),
      nodesDone: this.nodesDone(job),
      sizeOf: (id) => this.sizes.of(id),
      base,
    });
  }

  /** Ask for the job to be cancelled (once is enough); answers the job as it is now. */
  async cancel(who: Principal, id: string, base: string): Promise<JobView> {
    const job = this.job(who, id);
    if (!isFinal(job)) {
      await this.cancels.mark(job.id);
      // A waiting job is cancelled at once; a running one once its backend has stopped it.
      void this.engine
        .as(who)
        .cancel(job.id, 'cancelled through the API')
        .catch((err) => log.warn({ job: job.id }, `cancelling failed: ${(err as Error).message}`));
    }
    return this.view(job, base);
  }

  // ── event streams ─────────────────────────────────────────────────────────────────────────

  /**
   * Follow the job as Server-Sent Events on `res` (the route has checked the job is the caller's).
   * Refused with 429 beyond the socket quotas (MAX_SOCKETS_PER_CLIENT streams per job,
   * MAX_SOCKETS_PER_KEY per key over every door).
   */
  stream(who: Principal, job: Job, res: ServerResponse, base: string, lastEventId: number | undefined): void {
    const place = this.engine.sockets.acquire(STREAMS, { clientId: job.id, tenant: who.tenant });
    if (!place.ok) {
      throw new V2Error(429, 'too_many_streams', `too many open event streams (MAX_SOCKETS_PER_CLIENT per job, MAX_SOCKETS_PER_KEY per key); close one first`, undefined, { 'Retry-After': '5' });
    }
    const stream = new EventStream(res, { ...STREAM_LIMITS, heartbeatMs: this.engine.config.heartbeatMs });
    stream.whenClosed(place.release);
    let feed = this.feeds.get(job.id);
    if (!feed || feed.ending) {
      feed = new JobFeed(job.id, this, (idle) => {
        if (this.feeds.get(job.id) === idle) this.feeds.delete(job.id);
      });
      this.feeds.set(job.id, feed);
    }
    feed.add(stream, base, lastEventId);
  }

  // FeedSource: what a job's event stream reads.

  current(jobId: string): Job | undefined {
    return this.engine.get(jobId);
  }

  status(job: Job): { status: JobStatus; queue_position: number | null } {
    const status = statusOf(job, this.cancels.asked(job.id), Date.now(), this.started(job));
    return { status, queue_position: queuePosition(job, status, this.engine.position(job.id)) };
  }

  progress(job: Job, status: JobStatus): ProgressView | null {
    return progressView(job, status, this.nodesDone(job));
  }

  preview(jobId: string): Preview | undefined {
    return this.previews.get(jobId);
  }

  async outputs(job: Job, base: string): Promise<(OutputView & { seq: number })[]> {
    const outputs = jobOutputs(job);
    await this.sizes.learn(outputs);
    const expires = expiresAt(job, Date.now());
    return outputs.map((o) => ({ ...outputView(o, this.sizes.of(o.id), base, expires), seq: o.seq }));
  }

  // ── the engine's events ───────────────────────────────────────────────────────────────────

  private hear(event: JobEvent): void {
    this.nodes.hear(event);
    if (event.kind === 'preview') {
      this.previews.set(event.jobId, { seq: event.seq, node: event.node ?? this.engine.get(event.jobId)?.progress?.node ?? '', mime: event.mime, data: event.data });
    }
    const feed = this.feeds.get(event.jobId);
    feed?.hear(event);
    if (!isFinalEvent(event)) return;
    this.previews.forget(event.jobId);
    // The feed sends the end; a client that connects now gets a feed of its own.
    if (feed && this.feeds.get(event.jobId) === feed) this.feeds.delete(event.jobId);
    // One process drops the cancel mark: the job's status no longer reads it.
    if (this.engine.isDispatcher && this.cancels.asked(event.jobId)) void this.cancels.forget(event.jobId).catch(() => undefined);
  }

  private dropJob(jobId: string): void {
    this.previews.forget(jobId);
    this.nodes.forget(jobId);
    this.feeds.get(jobId)?.close();
    this.feeds.delete(jobId);
  }

  /** Started on its backend, as its events said (or, not followed here, as its progress shows). */
  private started(job: Job): boolean {
    return this.nodes.started(job.id) ?? job.progress?.node !== undefined;
  }

  private nodesDone(job: Job): number {
    return this.nodes.done(job.id, job.prompt, job.progress?.node);
  }

  /** Once per cluster: forget expired Idempotency-Keys and cancel marks of finished jobs. */
  private async sweep(): Promise<void> {
    if (!this.engine.isDispatcher) return;
    try {
      await this.keys.sweep();
      await this.cancels.sweep();
    } catch (err) {
      log.warn(`sweeping the v2 records failed: ${(err as Error).message}`);
    }
  }
}
