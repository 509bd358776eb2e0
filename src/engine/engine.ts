// The engine behind every door: the catalog, the job store, the scheduler and its backends.
// Doors call these operations and listen to `events`; nothing here knows about HTTP or about
// which door a job came from.
import type { Dispatcher } from 'undici';
import type { Config } from '../config.js';
import { Backend } from '../scheduler/backend.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Routing } from '../scheduler/routing.js';
import type { Explanation } from '../scheduler/scheduler.js';
import { FairQueue, TIERS, isTier, tierRank } from '../scheduler/fair-queue.js';
import type { Tier } from '../scheduler/fair-queue.js';
import { limitsOf } from './key-limits.js';
import type { Limits } from './key-limits.js';
import { JobStore, StoreError } from '../jobs/store.js';
import type { Collection, SideTable } from '../jobs/store.js';
import { GenerationCount } from '../jobs/generation-count.js';
import type { GenerationCounter } from '../jobs/generation-count.js';
import { Cluster } from '../cluster/cluster.js';
import type { Job, OutputFile } from '../jobs/job.js';
import { isFinal, isOnBackend, newJob, withNodeOutput } from '../jobs/job.js';
import { UploadStore } from '../uploads/store.js';
import { InputFiles, curatedInputs } from '../uploads/input-files.js';
import { Catalog, checkSubmission, isFileInput, patchWorkflow } from '../workflows/index.js';
import type { Workflow } from '../workflows/index.js';
import type { ComfyPrompt } from '../comfy/protocol.js';
import { newId } from '../ids.js';
import { ClientError, DuplicateJobError } from './errors.js';
import { EngineEventStream } from './events.js';
import type { BackendState, EngineEvent, JobEvent, JobEventBody } from './events.js';
import { PoolInfo } from './pool-info.js';
import { BACKENDS_COLLECTION, Roster } from './roster.js';
import type { BackendInfo, BackendRecord } from './roster.js';
import { backendId, parseBackendSpec } from './backend-spec.js';
import { CallerView } from './caller.js';
import { SocketQuota } from './socket-quota.js';
import { clientKey } from './tenants.js';
import type { Principal } from './tenants.js';
import { logger } from '../log.js';

export { ClientError, DuplicateJobError } from './errors.js';
export type { Collection, SideTable } from '../jobs/store.js';
export type { BackendInfo } from './roster.js';

/** A backend to add: its labels and, when a proxy in front of it asks for them, credentials (Bearer `token`, or Basic `username` and `password`). */
export interface AddBackendOptions {
  labels?: string[];
  token?: string;
  username?: string;
  password?: string;
}

const log = logger('engine');

/** How long a cancel asked of another process's dispatcher is waited for before answering. */
const CANCEL_WAIT_MS = 30_000;
/** A finished job (and its results) is kept this long, then swept. */
export const FINISHED_RETENTION_MS = 24 * 3600_000;
/** A job whose results a client collected is kept this long after, then swept. */
export const COLLECTED_RETENTION_MS = 10 * 60_000;

/** What a door asks the engine to run. */
export interface JobSpec {
  /** The job id (also the backend's prompt_id); a new uuid v7 when not given. */
  id?: string;
  /** The client that submits it: a name inside the tenant's space. */
  clientId: string;
  /** The tenant that owns it (the API key's name); "" in an open bridge. */
  tenant?: string;
  /** The submitting door's name, for its own views (`jobs(door)`); opaque to the engine. */
  door?: string;
  /** Workflow alias, for logs and timing; empty for a prompt sent as is. */
  workflow?: string;
  prompt: ComfyPrompt;
  /** Names of input files the prompt refers to (sent to the backend before it runs). */
  uploads?: string[];
  /**
   * The priority tier asked for (a tier name, as the client sent it): checked against what the
   * tenant may use; the tenant's default when absent.
   */
  tier?: unknown;
  /** Submitted by the operator (admin token, or an open bridge): any tier may be asked for. */
  operator?: boolean;
  /** Order among the client's own jobs of its tier: lower runs first (the ComfyUI door's number/front). */
  priority?: number;
  /** extra_data for the backend submission. */
  extraData?: Record<string, unknown>;
  /** Side-table values written together with the job: table name → value. */
  tables?: Record<string, unknown>;
}

export interface Accepted {
  job: Job;
  /** Jobs in the engine not finished yet (waiting and on backends), this one included. */
  queueLength: number;
}

export interface QueueCounts {
  /** Waiting in the engine, not yet on a backend. */
  waiting: number;
  /** On backends: being sent, queued there, or running. */
  onBackends: number;
  /** Not finished: waiting or on backends (as the job records say). */
  unfinished: number;
}

export interface Readiness {
  ready: boolean;
  checks: { doors: boolean; store: boolean; backends: number; redis?: boolean };
  cluster?: { role: 'dispatcher' | 'follower'; process: string };
}

/** What operators' metrics read of one backend. */
export interface BackendReading {
  url: string;
  /** Reachable (answers probes, event socket connected), as this process sees it. */
  healthy: boolean;
  /** Drained by an operator: takes no new work. */
  draining: boolean;
  /** Our unfinished jobs on it (being sent, queued there, running). */
  inFlight: number;
  /** Seconds per work unit learned from its own jobs (by the process that dispatches). */
  secondsPerUnit?: number;
  /** Times this process's event socket to it registered again after a drop. */
  reconnects: number;
}

export interface FreeOptions {
  unload_models: boolean;
  free_memory: boolean;
}

export class Engine {
  readonly events = new EngineEventStream();
  /** Open websockets per client and per key, over every door. */
  readonly sockets: SocketQuota;
  /** Unfinished job ids, kept current with every state change. */
  private readonly open = new Set<string>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly scheduler: Scheduler;
  /** The waiting jobs as the store holds them, in run order: what a process that does not dispatch shows. */
  private readonly queued: FairQueue<Job>;
  /** In a cluster: does this process dispatch (hold the lease)? One process alone always does. */
  private dispatching: boolean;
  /** Backends whose up/down/drain this engine reports. */
  private readonly reported = new WeakSet<Backend>();
  private pruneTimer: NodeJS.Timeout | undefined;
  private catalogTimer: NodeJS.Timeout | undefined;
  /** The curated workflows last reported as runnable on no backend (start-up warning). */
  private unrunnable = '';

  private constructor(
    readonly config: Config,
    readonly catalog: Catalog,
    private readonly store: JobStore,
    readonly uploads: UploadStore,
    /** Where the engine reads input files from; a door adds its own source. */
    readonly inputs: InputFiles,
    /** The pool as the operator left it, and its Backends. */
    private readonly roster: Roster,
    readonly generationCount: GenerationCounter & { readonly value: number },
    /** Read-only answers from the pool (/object_info, …). */
    readonly pool: PoolInfo,
    /** Which backends may run a job: their learned node classes and model files, and the pins. */
    readonly routing: Routing,
    /** The cluster this process is part of, when REDIS_URL is set. */
    readonly cluster?: Cluster,
  ) {
    this.dispatching = cluster === undefined;
    this.sockets = new SocketQuota({ perClient: config.maxSocketsPerClient, perKey: config.maxSocketsPerKey });
    for (const job of store.all()) if (!isFinal(job)) this.open.add(job.id);
    store.on('state', (job) => (isFinal(job) ? this.open.delete(job.id) : this.open.add(job.id)));
    store.on('removed', (job) => this.open.delete(job.id));
    this.queued = new FairQueue<Job>(() => store.all(), { fair: config.fairShare });
    for (const job of store.all()) if (job.state === 'queued') this.queued.add(job);
    // A change of state queues a job, takes it out, or records a dispatch (a turn taken).
    store.on('state', (job) => {
      if (job.state === 'queued') this.queued.add(job);
      else this.queued.delete(job);
      if (job.dispatchedAt !== undefined) this.queued.dispatched(job);
    });
    store.on('removed', (job) => {
      this.queued.delete(job);
      this.queued.changed();
    });
    for (const b of roster.pool) this.report(b);
    this.scheduler = new Scheduler(
      [...roster.pool],
      store,
      inputs,
      {
        prefetch: config.prefetch,
        fairShare: config.fairShare,
        maxAttempts: config.jobMaxAttempts,
        pollMs: Math.min(1000, config.healthIntervalMs * 5),
        startTimeoutMs: config.jobStartTimeoutMs,
        stallTimeoutMs: config.jobStallTimeoutMs,
        routing,
      },
      (job, body, backend) => this.publish(job, body, backend),
    );
    // Changes to the pool, made here or on another process, come as records.
    roster.on('joined', (b) => this.joined(b));
    roster.on('left', (b) => this.left(b));
    this.onRecord((collection, id, value) => {
      if (collection === BACKENDS_COLLECTION) roster.apply(id, value);
    });
    // Removed backends are kept while jobs name them; jobs removed may free some.
    store.on('removed', () => this.pruneSoon());
    if (cluster) this.joinCluster(cluster);
  }

  static async create(config: Config): Promise<Engine> {
    const catalog = await Catalog.load({ dir: config.workflowDir, aliasFile: config.workflowAlias });
    const cluster = config.redisUrl !== undefined ? await Cluster.join(config) : undefined;
    const store = cluster ? await JobStore.openOn(cluster.link) : await JobStore.open(config.dataDir);
    const uploads = new UploadStore(config.uploadDir);
    await uploads.init();
    let highest = 0;
    for (const job of store.all()) highest = Math.max(highest, job.generation ?? 0);
    const generationCount = cluster ? cluster.generations() : await GenerationCount.open(config.currentState, highest);
    const options = { timeoutMs: config.backendTimeoutMs, healthIntervalMs: config.healthIntervalMs, healthFailures: config.healthFailures, capabilityRefreshMs: config.capabilityRefreshMs };
    const roster = await Roster.open(store.collection<BackendRecord>(BACKENDS_COLLECTION), config.backends, (address) => new Backend(address, options), namedBackends(store.all()), {
      fromEnvironment: config.poolFromEnv,
    });
    const inputs = new InputFiles();
    inputs.add(curatedInputs(uploads));
    const routing = new Routing(() => roster.pool, config.pins);
    return new Engine(config, catalog, store, uploads, inputs, roster, generationCount, new PoolInfo(roster.pool, routing), routing, cluster);
  }

  /** Start talking to backends and pick up the jobs a previous run left (in a cluster: once this process dispatches). */
  start(): void {
    this.scheduler.start();
    if (this.cluster) {
      this.cluster.link.follow();
      this.cluster.lease.start();
    } else {
      this.recover();
    }
    this.sweeper = setInterval(() => {
      if (this.dispatching) void this.sweep();
    }, 60_000);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    clearTimeout(this.pruneTimer);
    clearTimeout(this.catalogTimer);
    await this.scheduler.stop();
    await this.roster.close();
    await this.store.flush();
    // Only now may another process take over what this one was running.
    await this.cluster?.lease.stop();
    await this.store.close();
    await this.generationCount.flush();
  }

  /** Can this process take new work now? (In a cluster: is Redis reachable?) */
  get accepting(): boolean {
    return this.cluster?.link.available ?? true;
  }

  /** Every door listens (set by whoever starts them; cleared when they start to close). */
  serving = false;

  /** Should this process get traffic: its doors listen, its store takes writes and a backend takes work (up, not draining). */
  readiness(): Readiness {
    const backends = this.healthyBackends().length;
    const redis = this.cluster ? this.cluster.link.available : undefined;
    return {
      ready: this.serving && backends > 0 && redis !== false,
      checks: { doors: this.serving, store: this.accepting, backends, ...(redis !== undefined && { redis }) },
      ...(this.cluster && { cluster: { role: this.dispatching ? 'dispatcher' : 'follower', process: this.cluster.process } }),
    };
  }

  /** Is this process the one that dispatches (always, when it is alone)? */
  get isDispatcher(): boolean {
    return this.dispatching;
  }

  // ── the cluster ───────────────────────────────────────────────────────────────────────────

  private joinCluster({ link, lease }: Cluster): void {
    link.tracks(() => this.store.writtenIds());
    link.on('change', (change, reload) => {
      const fresh = change.put.filter((p) => this.store.get(p.job.id) === undefined).map((p) => p.job.id);
      // While this process dispatches, it alone writes unfinished jobs: others' copies may be older.
      this.store.applyRemote(change, (job) => this.dispatching && !isFinal(job));
      if (!this.dispatching) return;
      for (const id of fresh) {
        const job = this.store.get(id);
        if (job?.state === 'queued') this.scheduler.enqueue(job);
        else if (job && reload && isOnBackend(job)) this.adopt(job);
      }
    });
    link.on('events', (events) => {
      for (const event of events) {
        if ('jobId' in event) {
          // What the events say is newer than the job record last written.
          const job = this.store.get(event.jobId);
          if (job && !this.dispatching) {
            const seq = Math.max(job.seq ?? 0, event.seq);
            if (event.kind === 'progress') this.store.refresh(job, { seq, progress: event.progress });
            else if (event.kind === 'output') this.store.refresh(job, { seq, nodeOutputs: withNodeOutput(job, { node: event.node, ...(event.displayNode !== undefined && { displayNode: event.displayNode }), output: event.output, seq: event.seq }) });
            else this.store.refresh(job, { seq });
          }
        }
        this.events.publish(event);
      }
    });
    link.on('cancel', (jobId, reason) => {
      if (this.dispatching) void this.cancelHere(jobId, reason);
    });
    lease.on('gained', () => void this.takeOver());
  }

  /** This process holds the lease now: pick up every unfinished job and the cancels asked for. */
  private async takeOver(): Promise<void> {
    const link = this.cluster!.link;
    try {
      // Everything the last dispatcher wrote, before acting on it.
      await link.reload();
    } catch (err) {
      log.warn(`reading the cluster's jobs failed (${(err as Error).message}); dispatching from what this process holds`);
    }
    this.dispatching = true;
    this.recover();
    const cancels = await link.pendingCancels().catch(() => new Map<string, string>());
    const done: string[] = [];
    for (const [jobId, reason] of cancels) {
      const job = this.store.get(jobId);
      if (!job || isFinal(job)) done.push(jobId);
      else void this.cancelHere(jobId, reason);
    }
    await link.cancelsDone(done).catch(() => undefined);
  }

  /** Cancel a job this process dispatches; the request is done once it is final. */
  private async cancelHere(jobId: string, reason: string): Promise<boolean> {
    const job = this.store.get(jobId);
    if (!job || isFinal(job)) {
      void this.cluster?.link.cancelsDone([jobId]).catch(() => undefined);
      return false;
    }
    await this.scheduler.cancel(job, reason);
    void this.cluster?.link.cancelsDone([jobId]).catch(() => undefined);
    return true;
  }

  /** Refuse new work while the store cannot take it. */
  private requireStore(): void {
    if (!this.accepting) throw new ClientError(503, 'the job store (Redis) is unreachable; retry shortly', { 'Retry-After': '5' }, { code: 'store_unavailable' });
  }

  // ── submitting ────────────────────────────────────────────────────────────────────────────

  workflow(alias: string): Workflow {
    const wf = this.catalog.get(alias);
    if (!wf) throw new ClientError(404, `unknown workflow "${alias}"; GET /workflow-list names the available ones: ${this.catalog.list().join(', ')}`);
    return wf;
  }

  /**
   * Check a catalog workflow's input values, patch it, and submit it for `clientId`; `spec` gives
   * the job's id and side-table values, as `submit` takes them.
   */
  async submitWorkflow(clientId: string, body: unknown, door?: string, tenant = '', spec: Pick<JobSpec, 'id' | 'tables' | 'tier' | 'operator'> = {}): Promise<Accepted> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ClientError(400, 'the request body must be a JSON object like {"workflow": "<alias>", "<node>/<input>": value}');
    const alias = (body as Record<string, unknown>).workflow;
    if (typeof alias !== 'string' || alias === '') throw new ClientError(400, `"workflow" is required: one of ${this.catalog.list().join(', ')}`);
    const wf = this.catalog.get(alias);
    if (!wf) throw new ClientError(400, `unknown workflow "${alias}": use one of ${this.catalog.list().join(', ')}`, {}, { code: 'unknown_workflow' });
    // Held to the backends' own ranges and choices once one has described its nodes.
    const check = checkSubmission(wf, body, UploadStore.isName, await this.pool.objectInfo());
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
      if (!(await this.uploads.exists(name, tenant))) problems.push(`${name} was not uploaded (or was used and removed); POST /upload it first`);
    }
    if (!check.ok || problems.length) throw new ClientError(400, problems.join('; '), {}, { code: 'invalid_inputs', problems });
    const prompt = patchWorkflow(wf.graph, check.values) as ComfyPrompt;
    return this.submit({ ...spec, clientId, tenant, door, workflow: wf.alias, prompt, uploads: check.uploads });
  }

  /**
   * Check the owner's and the queue's limits, then persist and queue a job; resolves once it is
   * on disk. Throws ClientError (429/503) beyond the limits, DuplicateJobError for a known id.
   */
  async submit(spec: JobSpec): Promise<Accepted> {
    const id = spec.id ?? newId();
    if (this.store.get(id)) throw new DuplicateJobError(id);
    this.requireRunnable(spec.prompt, spec.workflow);
    const tenant = spec.tenant ?? '';
    this.requireStore();
    const tier = this.admit(tenant, spec.clientId, spec.tier, spec.operator ?? false);
    const job = newJob({
      id,
      clientId: spec.clientId,
      ...(tenant !== '' && { tenant }),
      workflow: spec.workflow ?? '',
      prompt: spec.prompt,
      uploads: spec.uploads ?? [],
      ...(spec.door !== undefined && { door: spec.door }),
      tier,
      ...(spec.priority !== undefined && { priority: spec.priority }),
      ...(spec.extraData !== undefined && { extraData: spec.extraData }),
    });
    job.generation = await this.generationCount.next();
    if (this.store.get(id)) throw new DuplicateJobError(id);
    // The first event's number goes to disk with the job.
    job.seq = 1;
    for (const [name, value] of Object.entries(spec.tables ?? {})) void this.store.table(name).set(id, value);
    try {
      await this.store.add(job);
    } catch (err) {
      if (err instanceof StoreError && this.store.get(id) !== job) throw new DuplicateJobError(id);
      throw err;
    }
    this.emit(this.eventOf(job, { kind: 'queued' }, 1));
    // In a cluster the dispatcher hears of the job from the store.
    if (this.dispatching) this.scheduler.enqueue(job);
    return { job, queueLength: this.unfinished() };
  }

  /**
   * Refuse a graph no known backend can run (in a cluster, as this process's backends told it):
   * 422 naming the node classes and model files missing, or the pins. A job some backend that is
   * down now could run is accepted and waits for it.
   */
  private requireRunnable(prompt: ComfyPrompt, workflow = ''): void {
    const refusal = this.routing.refusal(prompt as Record<string, unknown>, workflow);
    if (!refusal) return;
    throw new ClientError(422, `no backend can run this job: ${refusal.problems.join('; ')}`, {}, { code: 'unrunnable', problems: refusal.problems, missing: refusal.missing });
  }

  /** What a tenant may use: its priority tiers and its unfinished jobs (PRIORITY_DEFAULT, PRIORITY_MAX, KEY_LIMITS). */
  limits(tenant: string): Limits {
    return limitsOf(this.config.priorities, this.config.maxJobsPerClient, tenant);
  }

  /**
   * Refuse work beyond the configured limits, telling the client when to come back; answers the
   * job's tier (the one asked for, checked against what the tenant may use, or its default).
   */
  private admit(tenant: string, clientId: string, asked: unknown, operator: boolean): Tier {
    const { maxQueue } = this.config;
    const limits = this.limits(tenant);
    const tier = asked === undefined || asked === null ? limits.defaultPriority : asked;
    if (!isTier(tier)) {
      throw new ClientError(400, `"priority" must be one of ${TIERS.join(', ')}, got ${JSON.stringify(tier)?.slice(0, 40)}`, {}, { code: 'invalid_priority' });
    }
    if (!operator && tierRank(tier) < tierRank(limits.maxPriority)) {
      const who = tenant === '' ? 'this bridge' : `API key ${tenant}`;
      throw new ClientError(403, `${who} may ask for priorities up to ${limits.maxPriority} (KEY_LIMITS max_priority, else PRIORITY_MAX), not ${tier}`, {}, { code: 'invalid_priority' });
    }
    // A rough wait before a slot frees up: a typical job's duration, at least a second.
    const retryAfter = String(Math.max(1, Math.ceil(this.scheduler.estimates.meanJobSeconds() ?? 5)));
    const { maxJobsPerClient, maxJobs } = limits;
    if (maxJobsPerClient > 0 && this.store.ofClient(clientId, tenant).filter((j) => !isFinal(j)).length >= maxJobsPerClient) {
      throw new ClientError(429, `clientId ${clientId} already has ${maxJobsPerClient} unfinished jobs (MAX_JOBS_PER_CLIENT, or the key's max_jobs_per_client); retry when one finishes`, { 'Retry-After': retryAfter }, { code: 'client_limit' });
    }
    if (maxJobs > 0 && this.unfinishedOf(tenant) >= maxJobs) {
      const who = tenant === '' ? 'this bridge' : `API key ${tenant}`;
      throw new ClientError(429, `${who} already has ${maxJobs} unfinished jobs (KEY_LIMITS max_jobs); retry when one finishes`, { 'Retry-After': retryAfter }, { code: 'key_limit' });
    }
    if (maxQueue > 0 && this.unfinished() >= maxQueue) {
      throw new ClientError(503, `the queue is full (${maxQueue} unfinished jobs, MAX_QUEUE); retry later`, { 'Retry-After': retryAfter }, { code: 'queue_full' });
    }
    return tier;
  }

  /** Unfinished jobs of one tenant. */
  private unfinishedOf(tenant: string): number {
    let n = 0;
    for (const id of this.open) if ((this.store.get(id)?.tenant ?? '') === tenant) n++;
    return n;
  }

  // ── looking up ────────────────────────────────────────────────────────────────────────────

  /** The engine as this caller may see and use it: what every door acts through. */
  as(who: Principal): CallerView {
    return new CallerView(this, who);
  }

  get(jobId: string): Job | undefined {
    return this.store.get(jobId);
  }

  /** Every job, or those a door submitted; in no particular order. */
  jobs(door?: string): Job[] {
    const all = [...this.store.all()];
    return door === undefined ? all : all.filter((j) => j.door === door);
  }

  /** A client's jobs (the clientId is a name in `tenant`'s space), or those it submitted through one door. */
  jobsOf(clientId: string, door?: string, tenant = ''): Job[] {
    const all = this.store.ofClient(clientId, tenant);
    return door === undefined ? all : all.filter((j) => j.door === door);
  }

  /**
   * A named collection of records not tied to a job (a door's idempotency keys, assets, webhook
   * deliveries): in memory, persisted with the jobs, shared by every process of a cluster.
   */
  collection<T>(name: string): Collection<T> {
    return this.store.collection<T>(name);
  }

  /** Hear of records set or deleted (here or by another process of the cluster); call the answer to stop. */
  onRecord(listener: (collection: string, id: string, value: unknown) => void): () => void {
    this.store.on('record', listener);
    return () => this.store.off('record', listener);
  }

  /** A named side table: a door's own record of each job, persisted with it and dropped with it. */
  doorTable<T>(name: string): SideTable<T> {
    return this.store.table<T>(name);
  }

  /** Jobs not finished: waiting, or on backends. The one count of unfinished work. */
  unfinished(): number {
    return this.open.size;
  }

  counts(): QueueCounts {
    if (this.dispatching) return { waiting: this.scheduler.waitingCount, onBackends: this.scheduler.activeCount, unfinished: this.unfinished() };
    let waiting = 0;
    for (const id of this.open) if (this.store.get(id)?.state === 'queued') waiting++;
    return { waiting, onBackends: this.unfinished() - waiting, unfinished: this.unfinished() };
  }

  /**
   * 1-based place of a waiting job in the queue; undefined when it is not waiting. Every door's
   * positions (and the dashboard's estimates) come from this order: the dispatcher's own, and on a
   * process that does not dispatch the same rule (scheduler/fair-queue.ts) over the same persisted
   * fields, so both give the same answer.
   */
  position(jobId: string): number | undefined {
    return this.dispatching ? this.scheduler.position(jobId) : this.queued.position(jobId);
  }

  /** The waiting jobs in the order they will run (as `position` counts). */
  waiting(): Job[] {
    return this.dispatching ? this.scheduler.waitingJobs() : [...this.queued.order()];
  }

  /**
   * Backend URLs: the pool in the order backends were added, then removed backends whose files
   * jobs still name (their files can still be read from them).
   */
  backendUrls(): string[] {
    return [...this.roster.pool, ...this.roster.removed()].map((b) => b.url);
  }

  /** Backends usable for new work now (up, not draining), in the pool's order. */
  healthyBackends(): string[] {
    return this.roster.pool.filter((b) => b.healthy && !b.draining).map((b) => b.url);
  }

  /** Why a job went (or would go) to a backend: the scheduler's plan, for the operator. */
  explain(jobId: string): Explanation | undefined {
    const job = this.store.get(jobId);
    return job && this.dispatching ? this.scheduler.explanation(job) : undefined;
  }

  /** Each backend's health, load, learned speed and reconnects, in configuration order. */
  backendReadings(): BackendReading[] {
    const inFlight = new Map<string, number>();
    for (const id of this.open) {
      const job = this.store.get(id);
      if (job?.backend !== undefined && isOnBackend(job)) inFlight.set(job.backend, (inFlight.get(job.backend) ?? 0) + 1);
    }
    return this.roster.pool.map((b) => {
      const secondsPerUnit = this.scheduler.estimates.measuredRate(b.url);
      return { url: b.url, healthy: b.healthy, draining: b.draining, inFlight: inFlight.get(b.url) ?? 0, ...(secondsPerUnit !== undefined && { secondsPerUnit }), reconnects: b.reconnects };
    });
  }

  /** The backend that serves (or last served) a client. */
  backendOf(clientId: string, tenant = ''): string | undefined {
    const jobs = this.store.ofClient(clientId, tenant).filter((j) => j.backend !== undefined);
    const current = jobs.find((j) => isOnBackend(j)) ?? jobs.sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0))[0];
    return current?.backend;
  }

  /** An output file's bytes, straight from the backend that holds it. */
  async viewOutput(file: OutputFile, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const backend = this.backend(file.backend);
    if (!backend) throw new ClientError(502, `the backend that holds ${file.filename} (${file.backend}) is no longer in the pool`);
    return backend.client.view(file, signal);
  }

  /**
   * A file on a backend as that backend answers /view (any status), for a door that relays it
   * with Range and preview parameters. Throws ClientError 404 for a backend not configured.
   */
  async viewOnBackend(
    backendUrl: string,
    file: { filename: string; subfolder: string; type: string },
    options: { head?: boolean; range?: string; params?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Dispatcher.ResponseData> {
    const backend = this.backend(backendUrl);
    if (!backend) throw new ClientError(404, 'no such file: the backend that made it is no longer in the pool');
    return backend.client.viewAsIs(file as OutputFile, options);
  }

  /**
   * Ask backends to free memory: the one given, else every healthy one (or every one with
   * `all`). Answers per backend whether it did.
   */
  async freeMemory(options: FreeOptions, { backend, all = false }: { backend?: string; all?: boolean } = {}): Promise<{ url: string; error?: string }[]> {
    const one = backend !== undefined ? this.backend(backend) : undefined;
    const targets = backend !== undefined ? (one ? [one] : []) : this.roster.pool.filter((b) => all || b.healthy);
    const results = await Promise.allSettled(targets.map((b) => b.client.free(options)));
    return targets.map((b, i) => {
      const r = results[i];
      if (r.status === 'fulfilled') {
        if (options.unload_models) this.scheduler.affinity.forget(b.url);
        return { url: b.url };
      }
      const error = (r.reason as Error).message;
      log.warn({ backend: b.url }, `POST /free failed: ${error}`);
      return { url: b.url, error };
    });
  }

  /** A backend by URL: in the pool, or removed and kept for its jobs. */
  private backend(url: string): Backend | undefined {
    return this.roster.find(url);
  }

  // ── the pool at run time ──────────────────────────────────────────────────────────────────

  /** The pool in the order backends were added, then removed ones still finishing jobs. */
  backendsInfo(): BackendInfo[] {
    const jobs = this.jobsOnBackends();
    const infos = this.roster.pool.map((b) => this.infoOf(b, jobs));
    for (const b of this.roster.removed()) if (jobs.has(b.url)) infos.push(this.infoOf(b, jobs));
    return infos;
  }

  /** One backend by id: in the pool, or removed (as its record says, once it has been let go). */
  backendInfo(id: string): BackendInfo | undefined {
    const record = this.roster.record(id);
    if (!record) return undefined;
    const backend = this.roster.find(record.url);
    if (backend) return this.infoOf(backend, this.jobsOnBackends());
    return { id, url: record.url, state: 'down', healthy: false, draining: true, labels: [...record.labels], jobs: [], queueRemaining: 0, removed: true };
  }

  /**
   * Add a backend to the pool (on every process of a cluster), persisted. 400 with every problem
   * of the URL, labels or credentials; 409 when the pool has it.
   */
  async addBackend(url: string, options: AddBackendOptions = {}): Promise<BackendInfo> {
    this.requireStore();
    const { spec, problems } = parseBackendSpec({ ...options, url }, 'the backend');
    if (!spec) throw new ClientError(400, problems.join('; '));
    const id = await this.roster.add(spec);
    return this.backendInfo(id)!;
  }

  /**
   * Take a backend out of the pool. Jobs it holds but has not started run elsewhere; the one it
   * runs finishes there (or moves, if it stops answering). 404 for one not in the pool.
   */
  async removeBackend(id: string): Promise<void> {
    this.requireStore();
    await this.roster.remove(id);
  }

  /** Let a backend finish what it has and give it nothing new. 404 for one not in the pool. */
  async drainBackend(id: string): Promise<void> {
    this.requireStore();
    await this.roster.drain(id, true);
  }

  /** A drained backend takes work again. */
  async resumeBackend(id: string): Promise<void> {
    this.requireStore();
    await this.roster.drain(id, false);
  }

  private infoOf(backend: Backend, onBackends: Map<string, Job[]>): BackendInfo {
    const removed = !this.roster.inPool(backend);
    const draining = removed || backend.draining;
    const healthy = backend.healthy;
    const order = { running: 0, submitted: 1, dispatching: 2 } as Record<string, number>;
    const jobs = (onBackends.get(backend.url) ?? []).sort((a, b) => (order[a.state] ?? 3) - (order[b.state] ?? 3) || a.createdAt - b.createdAt);
    const secondsPerUnit = this.scheduler.estimates.measuredRate(backend.url);
    const meanJobSeconds = this.scheduler.estimates.jobSeconds(backend.url);
    const models = this.scheduler.affinity.held(backend.url);
    return {
      id: backendId(backend.url),
      url: backend.url,
      state: stateOf(backend, removed),
      healthy,
      draining,
      labels: [...backend.labels],
      jobs: jobs.map((j) => ({ jobId: j.id, state: j.state, ...(j.progress && { progress: j.progress.value }) })),
      queueRemaining: backend.queueRemaining,
      ...(secondsPerUnit !== undefined && { secondsPerUnit }),
      ...(meanJobSeconds !== undefined && { meanJobSeconds }),
      ...(backend.version !== undefined && { version: backend.version }),
      ...(models.length > 0 && { models }),
      ...(removed && { removed: true as const }),
    };
  }

  /** Unfinished jobs on a backend, by its URL (as the job records say, so the same on every process). */
  private jobsOnBackends(): Map<string, Job[]> {
    const by = new Map<string, Job[]>();
    for (const id of this.open) {
      const job = this.store.get(id);
      if (!job || !job.backend || !isOnBackend(job)) continue;
      const list = by.get(job.backend);
      if (list) list.push(job);
      else by.set(job.backend, [job]);
    }
    return by;
  }

  /** Report a backend's health and draining as `backend` events (once per backend). */
  private report(backend: Backend): void {
    if (this.reported.has(backend)) return;
    this.reported.add(backend);
    const publish = (reason?: string) =>
      this.events.publish({ kind: 'backend', at: Date.now(), backend: backend.url, healthy: backend.healthy && !backend.draining, state: stateOf(backend, false), ...(reason !== undefined && { reason }) });
    backend.on('up', () => this.roster.inPool(backend) && publish());
    backend.on('down', (reason) => this.roster.inPool(backend) && publish(reason));
    backend.on('drain', (on) => this.roster.inPool(backend) && publish(on ? 'draining' : 'resumed'));
    backend.on('capabilities', () => this.checkCatalogSoon());
  }

  /**
   * Once every backend has described itself (or 10 s after one did), say which curated workflows
   * no backend can run; later, say so again whenever that changes.
   */
  private checkCatalogSoon(): void {
    clearTimeout(this.catalogTimer);
    const all = this.roster.pool.every((b) => b.capabilities !== undefined || b.reachable);
    this.catalogTimer = setTimeout(() => this.checkCatalog(), all ? 100 : 10_000);
    this.catalogTimer.unref();
  }

  /** The curated workflows no known backend can run, each with why (and a log line when that changed). */
  checkCatalog(): { workflow: string; problems: string[] }[] {
    const found: { workflow: string; problems: string[] }[] = [];
    for (const alias of this.catalog.list()) {
      const wf = this.catalog.get(alias);
      const refusal = wf && this.routing.refusal(wf.graph as Record<string, unknown>, alias);
      if (refusal) found.push({ workflow: alias, problems: refusal.problems });
    }
    const text = found.map((f) => `${f.workflow} (${f.problems.join('; ')})`).join(', ');
    if (text !== this.unrunnable) {
      if (found.length) log.warn({ workflows: found.map((f) => f.workflow) }, `no backend can run these curated workflows: ${text}`);
      else if (this.unrunnable) log.info('every curated workflow can run on some backend again');
      this.unrunnable = text;
    }
    return found;
  }

  /** A backend joined the pool (here, or on another process): it takes work once it is up. */
  private joined(backend: Backend): void {
    this.report(backend);
    this.scheduler.add(backend);
    log.info({ backend: backend.url }, 'joined the pool');
    this.events.publish({ kind: 'backend', at: Date.now(), backend: backend.url, healthy: backend.healthy && !backend.draining, state: stateOf(backend, false), reason: 'added' });
  }

  /** A backend left the pool: follow what it runs to the end, then stop talking to it. */
  private left(backend: Backend): void {
    log.info({ backend: backend.url }, 'left the pool');
    this.events.publish({ kind: 'backend', at: Date.now(), backend: backend.url, healthy: false, state: 'down', reason: 'removed' });
    this.leave(backend);
  }

  /** Withdraw what a removed backend has not started; once it holds nothing, retire it (its client stays for its files). */
  private leave(backend: Backend): void {
    backend.start();
    void this.scheduler.remove(backend).then(() => {
      if (this.roster.inPool(backend)) return;
      backend.retire();
      this.pruneSoon();
    });
  }

  /** Drop removed backends no job names any more, a moment after jobs went. */
  private pruneSoon(): void {
    if (this.pruneTimer || this.roster.removed().length === 0) return;
    this.pruneTimer = setTimeout(() => {
      this.pruneTimer = undefined;
      const busy = new Set(this.jobsOnBackends().keys());
      this.roster.prune(namedBackends(this.store.all()), (b) => busy.has(b.url));
    }, 1000);
    this.pruneTimer.unref();
  }

  // ── cancelling and forgetting ─────────────────────────────────────────────────────────────

  /** Cancel one job wherever it is; resolves once it is final. False when it was final already or unknown. */
  async cancel(jobId: string, reason: string): Promise<boolean> {
    const job = this.store.get(jobId);
    if (!job || isFinal(job)) return false;
    if (this.dispatching) {
      await this.scheduler.cancel(job, reason);
      return true;
    }
    // The dispatcher runs it: ask it (durably, so a dispatcher taking over does it too) and wait.
    this.requireStore();
    const final = this.untilFinal(job, CANCEL_WAIT_MS);
    await this.cluster!.link.requestCancel(jobId, reason);
    await final;
    return true;
  }

  /** Resolves once the job is final (or removed), or after `ms`. */
  private untilFinal(job: Job, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.store.off('state', onState);
        this.store.off('removed', onRemoved);
        resolve();
      };
      const onState = (j: Job) => j.id === job.id && isFinal(j) && done();
      const onRemoved = (j: Job) => j.id === job.id && done();
      const timer = setTimeout(done, ms);
      this.store.on('state', onState);
      this.store.on('removed', onRemoved);
    });
  }

  /** Cancel every unfinished job of a client (of one door, if given). Answers how many. */
  async cancelClient(clientId: string, reason: string, door?: string, tenant = ''): Promise<number> {
    const open = this.jobsOf(clientId, door, tenant).filter((j) => !isFinal(j));
    await Promise.all(open.map((j) => this.cancel(j.id, reason).catch((err) => log.warn({ job: j.id }, `cancelling failed: ${(err as Error).message}`))));
    return open.length;
  }

  /**
   * Forget finished jobs' results, here and on their backends, and release input files no
   * unfinished job needs. With `keep`, the jobs stay a while marked collected (their outcome
   * still answers), otherwise they are removed now. Unfinished jobs are left alone.
   */
  async forget(jobIds: readonly string[], { keep = false }: { keep?: boolean } = {}): Promise<void> {
    const jobs = [...new Set(jobIds)].map((id) => this.store.get(id)).filter((j): j is Job => j !== undefined && isFinal(j));
    if (jobs.length === 0) return;
    const fresh = jobs.filter((j) => j.collectedAt === undefined);
    if (keep) {
      const now = Date.now();
      // All in this tick: one store write.
      await Promise.all(fresh.map((job) => this.store.update(job, { collectedAt: now })));
    }
    await this.forgetOnBackends(fresh);
    if (!keep) await this.store.remove(jobs);
    this.releaseUploads(jobs);
    const at = Date.now();
    if (keep) {
      const byClient = new Map<string, { clientId: string; tenant: string; jobIds: string[] }>();
      for (const j of fresh) {
        const client = { clientId: j.clientId, tenant: j.tenant ?? '' };
        const key = clientKey(client);
        if (!byClient.has(key)) byClient.set(key, { ...client, jobIds: [] });
        byClient.get(key)!.jobIds.push(j.id);
      }
      for (const c of byClient.values()) this.emit({ kind: 'collected', at, ...c });
    } else {
      this.emit({
        kind: 'removed',
        at,
        jobs: jobs.map((j) => ({ jobId: j.id, clientId: j.clientId, tenant: j.tenant ?? '', ...(j.door !== undefined && { door: j.door }) })),
      });
    }
  }

  /** Drop collected jobs after a while, and results nobody came for after a day. */
  async sweep(now = Date.now()): Promise<void> {
    const old = [...this.store.all()].filter(
      (j) => (j.collectedAt !== undefined && now - j.collectedAt > COLLECTED_RETENTION_MS) || (isFinal(j) && now - (j.finishedAt ?? now) > FINISHED_RETENTION_MS),
    );
    if (old.length) await this.forget(old.map((j) => j.id));
  }

  /** Rewrite the job store's snapshot now (maintenance). */
  async compact(): Promise<void> {
    await this.store.compact();
  }

  private async forgetOnBackends(jobs: Job[]): Promise<void> {
    const byBackend = new Map<string, string[]>();
    for (const j of jobs) {
      if (!j.backend) continue;
      const ids = byBackend.get(j.backend);
      if (ids) ids.push(j.id);
      else byBackend.set(j.backend, [j.id]);
    }
    await Promise.all(
      [...byBackend].map(([url, ids]) =>
        this.backend(url)
          ?.client.deleteHistory(ids)
          .catch((err) => log.warn({ backend: url }, `could not delete history: ${(err as Error).message}`)),
      ),
    );
  }

  /** Delete input files no unfinished job needs any more. */
  private releaseUploads(jobs: Job[]): void {
    // A name is a file within its tenant's space.
    const key = (tenant: string | undefined, name: string) => `${tenant ?? ''}\n${name}`;
    const refs = new Map<string, { tenant: string; name: string }>();
    for (const j of jobs) for (const name of j.uploads) refs.set(key(j.tenant, name), { tenant: j.tenant ?? '', name });
    if (refs.size === 0) return;
    // Only unfinished jobs can still need a file: look at those, not at every job kept.
    for (const id of this.open) {
      const j = this.store.get(id);
      if (j) for (const n of j.uploads) refs.delete(key(j.tenant, n));
    }
    for (const { tenant, name } of refs.values()) void this.inputs.release(name, tenant);
  }

  // ── events ────────────────────────────────────────────────────────────────────────────────

  private eventOf(job: Job, body: JobEventBody, seq: number, backend = job.backend): JobEvent {
    return {
      jobId: job.id,
      seq,
      at: Date.now(),
      clientId: job.clientId,
      tenant: job.tenant ?? '',
      ...(job.door !== undefined && { door: job.door }),
      ...(backend !== undefined && { backend }),
      ...body,
    } as JobEvent;
  }

  /** Number and send one event of a job; the number is written with the job's next write. */
  private publish(job: Job, body: JobEventBody, backend?: string): void {
    const seq = (job.seq ?? 0) + 1;
    if (body.kind === 'output') {
      this.store.touch(job, { seq, nodeOutputs: withNodeOutput(job, { node: body.node, ...(body.displayNode !== undefined && { displayNode: body.displayNode }), output: body.output, seq }) });
    } else {
      this.store.touch(job, { seq });
    }
    this.emit(this.eventOf(job, body, seq, backend));
  }

  /** A door's client opened a websocket here (other processes' doors hear of it too). */
  clientConnected(door: string, client: { clientId: string; tenant: string }): void {
    if (this.cluster) this.emit({ kind: 'connected', at: Date.now(), door, clientId: client.clientId, tenant: client.tenant });
  }

  /** Send an event to this process's doors and, in a cluster, to every other process. */
  private emit(event: EngineEvent): void {
    this.events.publish(event);
    this.store.announce(event);
  }

  // ── housekeeping ──────────────────────────────────────────────────────────────────────────

  /** Follow a job a backend holds; one removed from the pool meanwhile finishes it or gives it back. */
  private adopt(job: Job): void {
    const backend = job.backend === undefined ? undefined : this.roster.find(job.backend);
    if (!backend || this.roster.inPool(backend)) {
      this.scheduler.adopt(job);
      return;
    }
    this.scheduler.adopt(job, backend);
    this.leave(backend);
  }

  private recover(): void {
    const jobs = [...this.store.all()].sort((a, b) => a.createdAt - b.createdAt);
    let waiting = 0;
    let adopted = 0;
    // Jobs on backends first, so their slots are counted before the waiting ones are placed.
    for (const job of jobs) {
      if (isOnBackend(job)) {
        this.adopt(job);
        adopted++;
      }
    }
    const queued = jobs.filter((j) => j.state === 'queued');
    this.scheduler.enqueue(queued);
    waiting = queued.length;
    if (waiting || adopted) log.info(`recovered ${waiting} waiting and ${adopted} dispatched jobs from the store`);
  }
}

/** URLs of the backends jobs name (where they ran, or run). */
function namedBackends(jobs: Iterable<Job>): Set<string> {
  const named = new Set<string>();
  for (const job of jobs) if (job.backend !== undefined) named.add(job.backend);
  return named;
}

function stateOf(backend: Backend, removed: boolean): BackendState {
  if (removed || backend.draining) return 'draining';
  return backend.healthy ? 'up' : 'down';
}
