// The engine behind both front doors: the catalog, the job store, the scheduler and its backends.
// Routes call these operations; nothing here knows about HTTP.
import { EventEmitter } from 'node:events';
import { v4 as uuidv4 } from 'uuid';
import type { Config } from './config.js';
import { Backend } from './scheduler/backend.js';
import { Scheduler } from './scheduler/scheduler.js';
import { JobStore } from './jobs/store.js';
import { GenerationCount } from './jobs/generation-count.js';
import type { Job } from './jobs/job.js';
import { isFinal, isOnBackend, newJob } from './jobs/job.js';
import { summarize } from './jobs/client-status.js';
import type { ClientStatus } from './jobs/client-status.js';
import { formatPercent } from './jobs/progress.js';
import { UploadStore } from './uploads/store.js';
import { InputFiles, curatedInputs } from './uploads/input-files.js';
import { Catalog, checkSubmission, isFileInput, patchWorkflow } from './workflows/index.js';
import type { Workflow } from './workflows/index.js';
import type { ComfyPrompt } from './comfy/protocol.js';
import { logger } from './log.js';

const log = logger('bridge');

/** A client mistake: becomes a 4xx with this detail. */
export class ClientError extends Error {
  constructor(readonly status: number, readonly detail: string, readonly headers: Record<string, string> = {}) {
    super(detail);
  }
}

export interface Accepted {
  job: Job;
  /** Jobs in the bridge not finished yet (waiting and on backends), this one included. */
  queueLength: number;
}

export interface BridgeEvents {
  /** A client's results were delivered and forgotten, here and on the backends. */
  collected: [clientId: string, jobs: Job[]];
}

export class Bridge extends EventEmitter<BridgeEvents> {
  private readonly best = new Map<string, number>();
  private admitting = 0;
  private sweeper: NodeJS.Timeout | undefined;

  private constructor(
    readonly config: Config,
    readonly catalog: Catalog,
    readonly store: JobStore,
    readonly uploads: UploadStore,
    readonly inputs: InputFiles,
    readonly scheduler: Scheduler,
    readonly generationCount: GenerationCount,
  ) {
    super();
    // Forget the monotonic progress of a client once its jobs are gone.
    store.on('removed', (job) => {
      if (store.ofClient(job.clientId).length === 0) this.best.delete(job.clientId);
    });
  }

  static async create(config: Config): Promise<Bridge> {
    const catalog = await Catalog.load({ dir: config.workflowDir, aliasFile: config.workflowAlias });
    const store = await JobStore.open(config.dataDir);
    const uploads = new UploadStore(config.uploadDir);
    await uploads.init();
    let highest = 0;
    for (const job of store.all()) highest = Math.max(highest, job.generation ?? 0);
    const generationCount = await GenerationCount.open(config.currentState, highest);
    const backends = config.comfyServers.map(
      (url) => new Backend(url, { timeoutMs: config.backendTimeoutMs, healthIntervalMs: config.healthIntervalMs, healthFailures: config.healthFailures }),
    );
    const inputs = new InputFiles();
    inputs.add(curatedInputs(uploads));
    const scheduler = new Scheduler(backends, store, inputs, {
      prefetch: config.prefetch,
      maxAttempts: config.jobMaxAttempts,
      pollMs: Math.min(1000, config.healthIntervalMs * 5),
      startTimeoutMs: config.jobStartTimeoutMs,
      stallTimeoutMs: config.jobStallTimeoutMs,
    });
    return new Bridge(config, catalog, store, uploads, inputs, scheduler, generationCount);
  }

  /** Start talking to backends and pick up the jobs a previous run left. */
  start(): void {
    this.scheduler.start();
    this.recover();
    this.sweeper = setInterval(() => void this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.scheduler.stop();
    await this.store.close();
    await this.generationCount.flush();
  }

  // ── the curated door ──────────────────────────────────────────────────────────────────────

  workflow(alias: string): Workflow {
    const wf = this.catalog.get(alias);
    if (!wf) throw new ClientError(404, `unknown workflow "${alias}"; GET /workflow-list names the available ones: ${this.catalog.list().join(', ')}`);
    return wf;
  }

  /** Check, patch, persist and queue one submission. */
  async accept(clientId: string, body: unknown): Promise<Accepted> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ClientError(400, 'the request body must be a JSON object like {"workflow": "<alias>", "<node>/<input>": value}');
    const alias = (body as Record<string, unknown>).workflow;
    if (typeof alias !== 'string' || alias === '') throw new ClientError(400, `"workflow" is required: one of ${this.catalog.list().join(', ')}`);
    const wf = this.catalog.get(alias);
    if (!wf) throw new ClientError(400, `unknown workflow "${alias}": use one of ${this.catalog.list().join(', ')}`);
    const check = checkSubmission(wf, body, UploadStore.isName);
    const problems = check.ok ? [] : [...check.problems];
    // File inputs take only names POST /upload made, and those files must still be here.
    const values = body as Record<string, unknown>;
    const named = new Set(check.ok ? check.uploads : []);
    for (const input of wf.inputs) {
      const value = values[input.key];
      if (typeof value !== 'string' || !isFileInput(input)) continue;
      if (UploadStore.isName(value)) named.add(value);
      else problems.push(`"${input.key}" must be the name POST /upload returned for your file, got ${JSON.stringify(String(value).slice(0, 100))}`);
    }
    for (const name of named) {
      if (!(await this.uploads.exists(name))) problems.push(`${name} was not uploaded (or was used and removed); POST /upload it first`);
    }
    if (!check.ok || problems.length) throw new ClientError(400, problems.join('; '));
    const prompt = patchWorkflow(wf.graph, check.values) as ComfyPrompt;
    return this.submit(newJob({ id: uuidv4(), clientId, source: 'curated', workflow: wf.alias, prompt, uploads: check.uploads }));
  }

  /** Persist and queue a job; resolves once it is on disk. */
  async submit(job: Job): Promise<Accepted> {
    this.admit(job.clientId);
    // Counted from here: submissions arriving together must not all pass the queue limit.
    this.admitting++;
    try {
      job.generation = this.generationCount.next();
      await this.store.add(job);
    } finally {
      this.admitting--;
    }
    this.scheduler.enqueue(job);
    return { job, queueLength: this.unfinished() };
  }

  /** Jobs accepted and not finished: waiting, on backends, or being written. */
  private unfinished(): number {
    return this.scheduler.waitingCount + this.scheduler.activeCount + this.admitting;
  }

  /** Refuse work beyond the configured limits, telling the client when to come back. */
  private admit(clientId: string): void {
    const { maxJobsPerClient, maxQueue } = this.config;
    // A rough wait before a slot frees up: a typical job's duration, at least a second.
    const retryAfter = String(Math.max(1, Math.ceil(this.scheduler.estimates.meanJobSeconds() ?? 5)));
    if (maxJobsPerClient > 0 && this.store.ofClient(clientId).filter((j) => !isFinal(j)).length >= maxJobsPerClient) {
      throw new ClientError(429, `clientId ${clientId} already has ${maxJobsPerClient} unfinished jobs (MAX_JOBS_PER_CLIENT); retry when one finishes`, { 'Retry-After': retryAfter });
    }
    if (maxQueue > 0 && this.unfinished() >= maxQueue) {
      throw new ClientError(503, `the queue is full (${maxQueue} unfinished jobs, MAX_QUEUE); retry later`, { 'Retry-After': retryAfter });
    }
  }


  /** The client's jobs from the curated door (the other door has its own view of its jobs). */
  curatedJobs(clientId: string): Job[] {
    return this.store.ofClient(clientId).filter((j) => j.source !== 'comfy');
  }

  /** The client's uncollected jobs (the current session of work). */
  session(clientId: string): Job[] {
    return this.curatedJobs(clientId).filter((j) => j.collectedAt === undefined);
  }

  /**
   * What to tell a client about its work; progress never goes backwards within a session.
   * Once everything is collected, the last session still answers (closed or error) unless
   * `collected` is false.
   */
  status(clientId: string, { collected = true } = {}): ClientStatus | undefined {
    let jobs = this.session(clientId);
    if (jobs.length === 0 && collected) jobs = this.curatedJobs(clientId);
    const status = summarize(jobs, {
      position: (j) => this.scheduler.position(j.id),
      fraction: (j) => this.scheduler.fraction(j.id) ?? (isFinal(j) ? 1 : 0),
    });
    if (status?.status !== 'progress' || status.fraction === undefined) return status;
    const best = Math.max(this.best.get(clientId) ?? 0, status.fraction);
    this.best.set(clientId, best);
    return { ...status, fraction: best, detail: formatPercent(best) };
  }

  /** Cancel every unfinished job of a client, and nothing else. Answers how many were cancelled. */
  async cancelClient(clientId: string, reason: string): Promise<number> {
    const open = this.curatedJobs(clientId).filter((j) => !isFinal(j));
    await Promise.all(open.map((j) => this.scheduler.cancel(j, reason)));
    return open.length;
  }

  /** Completed, uncollected jobs of a client, oldest first. */
  collectable(clientId: string): Job[] {
    return this.session(clientId)
      .filter((j) => j.state === 'completed')
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** After a complete delivery: forget the results here and on the backends. */
  async collected(clientId: string, jobs: Job[]): Promise<void> {
    const now = Date.now();
    // Failed and cancelled jobs of the session have been reported; they end with it.
    const ended = this.session(clientId).filter((j) => isFinal(j) && !jobs.includes(j));
    // All in this tick: one store write.
    await Promise.all([...jobs, ...ended].map((job) => this.store.update(job, { collectedAt: now })));
    this.best.delete(clientId);
    await this.forgetOnBackends(jobs);
    this.releaseUploads([...jobs, ...ended]);
    this.emit('collected', clientId, jobs);
  }

  /** The backend that serves (or last served) a client. */
  backendOf(clientId: string): Backend | undefined {
    const jobs = this.store.ofClient(clientId).filter((j) => j.backend !== undefined);
    const current = jobs.find((j) => isOnBackend(j)) ?? jobs.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0))[0];
    return this.scheduler.backends.find((b) => b.url === current?.backend);
  }

  backend(url: string): Backend | undefined {
    return this.scheduler.backends.find((b) => b.url === url);
  }

  // ── housekeeping ──────────────────────────────────────────────────────────────────────────

  private recover(): void {
    const jobs = [...this.store.all()].sort((a, b) => a.createdAt - b.createdAt);
    let waiting = 0;
    let adopted = 0;
    for (const job of jobs) {
      if (job.state === 'queued') {
        this.scheduler.enqueue(job);
        waiting++;
      } else if (isOnBackend(job)) {
        this.scheduler.adopt(job);
        adopted++;
      }
    }
    if (waiting || adopted) log.info(`recovered ${waiting} waiting and ${adopted} dispatched jobs from the store`);
  }

  /** Drop collected jobs after a while, and results nobody came for after a day. */
  async sweep(now = Date.now()): Promise<void> {
    const old = [...this.store.all()].filter(
      (j) => (j.collectedAt !== undefined && now - j.collectedAt > 10 * 60_000) || (isFinal(j) && now - (j.finishedAt ?? now) > 24 * 3600_000),
    );
    if (old.length === 0) return;
    await this.forgetOnBackends(old.filter((j) => j.collectedAt === undefined));
    await this.store.remove(old);
    this.releaseUploads(old);
  }

  private async forgetOnBackends(jobs: Job[]): Promise<void> {
    const byBackend = new Map<string, string[]>();
    for (const j of jobs) if (j.backend) byBackend.set(j.backend, [...(byBackend.get(j.backend) ?? []), j.id]);
    await Promise.all(
      [...byBackend].map(([url, ids]) =>
        this.backend(url)
          ?.client.deleteHistory(ids)
          .catch((err) => log.warn(`could not delete history on ${url}: ${(err as Error).message}`)),
      ),
    );
  }

  /** Delete input files no unfinished job needs any more. */
  private releaseUploads(jobs: Job[]): void {
    const names = new Set(jobs.flatMap((j) => j.uploads));
    if (names.size === 0) return;
    for (const j of this.store.all()) if (!isFinal(j)) for (const n of j.uploads) names.delete(n);
    for (const name of names) void this.inputs.release(name);
  }
}
