// Where jobs live: an in-memory index, written to DATA_DIR (see store-files.ts for the format).
//
// Side tables: named maps from job id to a value of someone else's (a door's own record of the
// job), written in the same line as the job and dropped with it.
//
// Durability: `add` resolves only once the job is on disk. Writes never overlap; every change
// made while one is under way joins the next (group commit), so many concurrent accepts cost one
// write, and a write carries only the jobs that changed.
import { EventEmitter } from 'node:events';
import type { Job, JobState } from './job.js';
import { canMove, isFinal } from './job.js';
import { StoreError, StoreFiles } from './store-files.js';
import { logger } from '../log.js';
import { clientKey } from '../engine/tenants.js';

export { StoreError };

const log = logger('store');

export interface JobStoreEvents {
  /** A job was added or changed state. */
  state: [job: Job, previous: JobState | undefined];
  removed: [job: Job];
}

/** A named map from job id to a value, persisted with the job and dropped when it goes. */
export interface SideTable<T> {
  get(jobId: string): T | undefined;
  /** Set a value; resolves once it is on disk (at once for a job not added yet: it is written with it). */
  set(jobId: string, value: T): Promise<void>;
  delete(jobId: string): Promise<void>;
}

/** A job as written: its fields plus its side tables' values. */
type Stored = Job & { tables?: Record<string, unknown> };

export class JobStore extends EventEmitter<JobStoreEvents> {
  private readonly jobs = new Map<string, Job>();
  private readonly byClient = new Map<string, Set<Job>>();
  /** Serialised JSON per job, dropped whenever the job changes. */
  private readonly json = new WeakMap<Job, string>();
  /** Changed since the last write: to be journalled. */
  private readonly dirty = new Set<Job>();
  private readonly removedIds = new Set<string>();
  /** Side tables: name → job id → value. */
  private readonly tables = new Map<string, Map<string, unknown>>();
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;
  private files: StoreFiles | undefined;

  private constructor() {
    super();
    this.setMaxListeners(0);
  }

  static async open(dataDir: string): Promise<JobStore> {
    const store = new JobStore();
    const { files, jobs } = await StoreFiles.open(dataDir, () => store.serialize());
    store.files = files;
    for (const stored of jobs.values() as IterableIterator<Stored>) {
      const { tables, ...job } = stored;
      for (const [name, value] of Object.entries(tables ?? {})) store.tableMap(name).set(job.id, value);
      store.index(job);
    }
    return store;
  }

  table<T>(name: string): SideTable<T> {
    const map = this.tableMap(name);
    return {
      get: (jobId) => map.get(jobId) as T | undefined,
      set: (jobId, value) => {
        map.set(jobId, value);
        return this.changedById(jobId);
      },
      delete: (jobId) => (map.delete(jobId) ? this.changedById(jobId) : Promise.resolve()),
    };
  }

  private tableMap(name: string): Map<string, unknown> {
    let map = this.tables.get(name);
    if (!map) this.tables.set(name, (map = new Map()));
    return map;
  }

  private changedById(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) return Promise.resolve();
    this.changed(job);
    return this.persist();
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<Job> {
    return this.jobs.values();
  }

  /** A client's jobs: the clientId is a name inside its tenant's space. */
  ofClient(clientId: string, tenant = ''): Job[] {
    return [...(this.byClient.get(clientKey({ tenant, clientId })) ?? [])];
  }

  /** Add a job; resolves once it is on disk. */
  async add(job: Job): Promise<void> {
    if (this.jobs.has(job.id)) throw new StoreError(`job ${job.id} exists already`);
    this.index(job);
    this.dirty.add(job);
    this.emit('state', job, undefined);
    await this.persist();
  }

  /**
   * Move a job to a new state (and set other fields with it); written in the next group commit.
   * A `lazy` change starts no write of its own: it rides along with the next one (for states that
   * recovery does not need, since it asks the backend anyway).
   */
  transition(job: Job, state: JobState, fields: Partial<Job> = {}, { lazy = false } = {}): Promise<void> {
    const previous = job.state;
    if (previous !== state && !canMove(previous, state)) {
      log.warn({ job: job.id }, `ignored move from ${previous} to ${state}`);
      return Promise.resolve();
    }
    Object.assign(job, fields, { state });
    if (isFinal(job) && job.finishedAt === undefined) job.finishedAt = Date.now();
    this.changed(job);
    this.emit('state', job, previous);
    return lazy ? Promise.resolve() : this.persist();
  }

  /** Change durable fields without a state change. */
  update(job: Job, fields: Partial<Job>): Promise<void> {
    Object.assign(job, fields);
    this.changed(job);
    return this.persist();
  }

  /** Fields that need no write of their own (progress, event counts): they ride along with the next one. */
  touch(job: Job, fields: Partial<Job> = {}): void {
    Object.assign(job, fields);
    this.changed(job);
  }

  async remove(jobs: Job[]): Promise<void> {
    for (const job of jobs) {
      if (!this.jobs.delete(job.id)) continue;
      this.dirty.delete(job);
      this.removedIds.add(job.id);
      for (const map of this.tables.values()) map.delete(job.id);
      const key = clientKey({ tenant: job.tenant ?? '', clientId: job.clientId });
      const set = this.byClient.get(key);
      set?.delete(job);
      if (set && set.size === 0) this.byClient.delete(key);
      this.emit('removed', job);
    }
    await this.persist();
  }

  /** Wait until everything changed so far is on disk. */
  async flush(): Promise<void> {
    if (this.waiting.length || this.draining || this.dirty.size) await this.persist();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.files?.close();
  }

  /** Rewrite the snapshot now and start an empty journal. */
  async compact(): Promise<void> {
    await this.flush();
    await this.files?.compact();
  }

  private changed(job: Job): void {
    this.json.delete(job);
    if (this.jobs.has(job.id)) this.dirty.add(job);
  }

  private jsonOf(job: Job): string {
    let text = this.json.get(job);
    if (text === undefined) this.json.set(job, (text = JSON.stringify(this.stored(job))));
    return text;
  }

  private stored(job: Job): Stored {
    let tables: Record<string, unknown> | undefined;
    for (const [name, map] of this.tables) {
      if (map.has(job.id)) (tables ??= {})[name] = map.get(job.id);
    }
    return tables ? { ...job, tables } : job;
  }

  private index(job: Job): void {
    this.jobs.set(job.id, job);
    const key = clientKey({ tenant: job.tenant ?? '', clientId: job.clientId });
    let set = this.byClient.get(key);
    if (!set) this.byClient.set(key, (set = new Set()));
    set.add(job);
  }

  /** The whole snapshot's text, reusing each unchanged job's JSON. */
  private serialize(): string {
    const parts: string[] = [];
    for (const job of this.jobs.values()) parts.push(this.jsonOf(job));
    return `{"version":1,"jobs":[\n${parts.join(',\n')}\n]}\n`;
  }

  /** Resolves once the current state is on disk; changes until the next write all share it. */
  private persist(): Promise<void> {
    if (!this.files || this.closed) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    // Start on the next tick so everything changed in this one joins the same write.
    if (!this.draining) this.draining = new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    return done;
  }

  private async drain(): Promise<void> {
    const files = this.files!;
    while (this.waiting.length) {
      const batch = this.waiting;
      this.waiting = [];
      const changed = [...this.dirty];
      const removed = [...this.removedIds];
      this.dirty.clear();
      this.removedIds.clear();
      try {
        await files.append(
          changed.map((j) => this.jsonOf(j)),
          removed,
        );
        if (files.wantsCompaction) await files.compact();
        for (const w of batch) w.resolve();
      } catch (err) {
        log.error(`writing the job store in ${files.dir} failed: ${(err as Error).message}`);
        // Keep what was not written for the next attempt.
        for (const j of changed) if (this.jobs.has(j.id)) this.dirty.add(j);
        for (const id of removed) if (!this.jobs.has(id)) this.removedIds.add(id);
        for (const w of batch) w.reject(err as Error);
      }
    }
    this.draining = undefined;
  }
}
