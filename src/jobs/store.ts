// Where jobs live: an in-memory index, written to DATA_DIR (see store-files.ts for the format).
//
// Durability: `add` resolves only once the job is on disk. Writes never overlap; every change
// made while one is under way joins the next (group commit), so many concurrent accepts cost one
// write, and a write carries only the jobs that changed.
import { EventEmitter } from 'node:events';
import type { Job, JobState } from './job.js';
import { canMove, isFinal } from './job.js';
import { StoreError, StoreFiles } from './store-files.js';
import { logger } from '../log.js';

export { StoreError };

const log = logger('store');

export interface JobStoreEvents {
  /** A job was added or changed state. */
  state: [job: Job, previous: JobState | undefined];
  /** A job's progress or other non-durable detail changed. */
  progress: [job: Job, fraction: number];
  removed: [job: Job];
}

export class JobStore extends EventEmitter<JobStoreEvents> {
  private readonly jobs = new Map<string, Job>();
  private readonly byClient = new Map<string, Set<Job>>();
  /** Serialised JSON per job, dropped whenever the job changes. */
  private readonly json = new WeakMap<Job, string>();
  /** Changed since the last write: to be journalled. */
  private readonly dirty = new Set<Job>();
  private readonly removedIds = new Set<string>();
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
    for (const job of jobs.values()) store.index(job);
    return store;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<Job> {
    return this.jobs.values();
  }

  ofClient(clientId: string): Job[] {
    return [...(this.byClient.get(clientId) ?? [])];
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
      log.warn(`ignored move of job ${job.id} from ${previous} to ${state}`);
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

  progress(job: Job, fraction: number): void {
    this.emit('progress', job, fraction);
  }

  async remove(jobs: Job[]): Promise<void> {
    for (const job of jobs) {
      if (!this.jobs.delete(job.id)) continue;
      this.dirty.delete(job);
      this.removedIds.add(job.id);
      const set = this.byClient.get(job.clientId);
      set?.delete(job);
      if (set && set.size === 0) this.byClient.delete(job.clientId);
      this.emit('removed', job);
    }
    await this.persist();
  }

  /** Wait until everything changed so far is on disk. */
  async flush(): Promise<void> {
    if (this.waiting.length || this.draining) await this.persist();
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
    if (text === undefined) this.json.set(job, (text = JSON.stringify(job)));
    return text;
  }

  private index(job: Job): void {
    this.jobs.set(job.id, job);
    let set = this.byClient.get(job.clientId);
    if (!set) this.byClient.set(job.clientId, (set = new Set()));
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
