// Where jobs live: an in-memory index of every job, and where it is written.
//
// Side tables: named maps from job id to a value of someone else's (a door's own record of the
// job), written in the same line as the job and dropped with it.
//
// Durability: `add` resolves only once the job is written. Writes never overlap; every change
// made while one is under way joins the next (group commit), so many concurrent accepts cost one
// write, and a write carries only the jobs that changed.
//
// Where it is written is a StorePersistence: files in DATA_DIR (store-files.ts) for one process,
// or Redis for a cluster (cluster/redis-link.ts), where the same write also carries the engine's
// events to the other processes and their changes come back through `applyRemote`.
import { EventEmitter } from 'node:events';
import type { Job, JobState } from './job.js';
import { canMove, isFinal } from './job.js';
import { StoreError, StoreFiles, applyRecord } from './store-files.js';
import type { RecordChange, Records } from './store-files.js';
import { logger } from '../log.js';
import { clientKey } from '../engine/tenants.js';
import type { EngineEvent } from '../engine/events.js';

export { StoreError };
export type { RecordChange, Records };

const log = logger('store');

export interface JobStoreEvents {
  /** A job was added or changed state. */
  state: [job: Job, previous: JobState | undefined];
  removed: [job: Job];
  /** A record was set (value) or deleted (undefined), here or by another process. */
  record: [collection: string, id: string, value: unknown];
}

/**
 * A named collection of records not tied to a job (idempotency keys, assets, webhook deliveries),
 * held in memory and written with the jobs.
 */
export interface Collection<T> {
  get(id: string): T | undefined;
  has(id: string): boolean;
  entries(): IterableIterator<[string, T]>;
  readonly size: number;
  /** Set a record; resolves once it is written. */
  set(id: string, value: T): Promise<void>;
  delete(id: string): Promise<void>;
  /** Set it only if no record has this id, atomically over a cluster: true when this call set it. */
  claim(id: string, value: T): Promise<boolean>;
}

/** A named map from job id to a value, persisted with the job and dropped when it goes. */
export interface SideTable<T> {
  get(jobId: string): T | undefined;
  /** Set a value; resolves once it is on disk (at once for a job not added yet: it is written with it). */
  set(jobId: string, value: T): Promise<void>;
  delete(jobId: string): Promise<void>;
}

/** A job as written: its fields plus its side tables' values. */
export type Stored = Job & { tables?: Record<string, unknown> };

/** Where the store writes: one group commit at a time, never overlapping. */
export interface StorePersistence {
  /** Every job and record stored so far. */
  load(): Promise<{ jobs: Iterable<Stored>; records: Records }>;
  /**
   * Write these jobs (their JSON), removals and record changes, with the events announced since
   * the last write (a persistence that does not carry events gets none). Resolves once written.
   */
  append(put: string[], removed: string[], events: EngineEvent[], records: RecordChange[]): Promise<void>;
  /** Set a record only if absent, atomically (a cluster); without it the store checks its memory. */
  claim?(change: RecordChange): Promise<boolean>;
  /** Does `append` carry events to other processes? */
  readonly carriesEvents: boolean;
  /** Rewrite everything now (files only). */
  compact?(): Promise<void>;
  readonly wantsCompaction?: boolean;
  close(): Promise<void>;
}

/** Jobs written by another process: as they are now, and the ids of those gone. */
export interface RemoteChange {
  put: { json: string; job: Stored }[];
  removed: string[];
  records?: RecordChange[];
  /** After a reload: every record, replacing what is held. */
  allRecords?: Records;
}

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
  /** Collections: name → id → value. */
  private records: Records = new Map();
  /** Record changes not written yet, in order (the last change of an id wins). */
  private readonly recordChanges = new Map<string, RecordChange>();
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;
  private persistence: StorePersistence | undefined;
  /** Events to carry with the next write (only with a persistence that carries them). */
  private outbox: EngineEvent[] = [];

  private constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** The store of one process: files in `dataDir`. */
  static async open(dataDir: string): Promise<JobStore> {
    const store = new JobStore();
    const { files, jobs, records } = await StoreFiles.open(dataDir, () => store.serialize());
    store.persistence = {
      load: async () => ({ jobs: jobs.values(), records }),
      append: (put, removed, _events, recs) => files.append(put, removed, recs),
      carriesEvents: false,
      compact: () => files.compact(),
      get wantsCompaction() {
        return files.wantsCompaction;
      },
      close: () => files.close(),
    };
    store.fill(jobs.values());
    store.records = records;
    return store;
  }

  /** A store written through `persistence` (Redis for a cluster). */
  static async openOn(persistence: StorePersistence): Promise<JobStore> {
    const store = new JobStore();
    store.persistence = persistence;
    const { jobs, records } = await persistence.load();
    store.fill(jobs);
    store.records = records;
    return store;
  }

  collection<T>(name: string): Collection<T> {
    const map = () => {
      let m = this.records.get(name);
      if (!m) this.records.set(name, (m = new Map()));
      return m;
    };
    return {
      get: (id) => this.records.get(name)?.get(id) as T | undefined,
      has: (id) => this.records.get(name)?.has(id) ?? false,
      entries: () => map().entries() as IterableIterator<[string, T]>,
      get size() {
        return map().size;
      },
      set: (id, value) => this.changeRecord({ c: name, id, v: value }),
      delete: (id) => (this.records.get(name)?.has(id) ? this.changeRecord({ c: name, id }) : Promise.resolve()),
      claim: async (id, value) => {
        if (this.records.get(name)?.has(id)) return false;
        const change: RecordChange = { c: name, id, v: value };
        if (this.persistence?.claim) {
          if (!(await this.persistence.claim(change))) return false;
          this.applyRecords([change]);
          return true;
        }
        await this.changeRecord(change);
        return true;
      },
    };
  }

  private changeRecord(change: RecordChange): Promise<void> {
    applyRecord(this.records, change, 'v' in change);
    this.recordChanges.delete(`${change.c}\n${change.id}`);
    this.recordChanges.set(`${change.c}\n${change.id}`, change);
    this.emit('record', change.c, change.id, change.v);
    return this.persist();
  }

  private applyRecords(changes: RecordChange[]): void {
    for (const change of changes) {
      applyRecord(this.records, change, 'v' in change);
      this.emit('record', change.c, change.id, change.v);
    }
  }

  private fill(jobs: Iterable<Stored>): void {
    for (const stored of jobs) {
      const { tables, ...job } = stored;
      for (const [name, value] of Object.entries(tables ?? {})) this.tableMap(name).set(job.id, value);
      this.index(job);
    }
  }

  /**
   * Send an event to the other processes with the next write (a cluster's event stream); at once
   * when no write is under way. A no-op for a store of one process.
   */
  announce(event: EngineEvent): void {
    if (!this.persistence?.carriesEvents || this.closed) return;
    this.outbox.push(event);
    if (!this.draining) this.draining = new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
  }

  /**
   * Take in what another process wrote. `keepOwn` says which of our jobs we alone write (the
   * dispatcher's unfinished jobs): a copy from elsewhere never overwrites those.
   */
  applyRemote(change: RemoteChange, keepOwn: (job: Job) => boolean = () => false): void {
    for (const { json, job: stored } of change.put) {
      const { tables, ...fields } = stored;
      const current = this.jobs.get(fields.id);
      if (current && keepOwn(current)) continue;
      for (const map of this.tables.values()) map.delete(fields.id);
      for (const [name, value] of Object.entries(tables ?? {})) this.tableMap(name).set(fields.id, value);
      if (!current) {
        this.index(fields);
        this.json.set(fields, json);
        this.emit('state', fields, undefined);
        continue;
      }
      const previous = current.state;
      // Same object, new fields: whoever holds the job sees the change.
      for (const key of Object.keys(current)) if (!(key in fields)) delete (current as unknown as Record<string, unknown>)[key];
      Object.assign(current, fields);
      this.dirty.delete(current);
      this.json.set(current, json);
      if (previous !== current.state) this.emit('state', current, previous);
    }
    for (const id of change.removed) {
      const job = this.jobs.get(id);
      if (job) this.drop(job);
    }
    if (change.allRecords) {
      const before = this.records;
      this.records = change.allRecords;
      for (const [name, map] of this.records) for (const [id, v] of map) if (before.get(name)?.get(id) !== v) this.emit('record', name, id, v);
      for (const [name, map] of before) for (const id of map.keys()) if (!this.records.get(name)?.has(id)) this.emit('record', name, id, undefined);
    }
    if (change.records) this.applyRecords(change.records);
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

  /** Ids of the jobs held here whose last change is written. */
  *writtenIds(): IterableIterator<string> {
    for (const job of this.jobs.values()) if (!this.dirty.has(job)) yield job.id;
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

  /** Fields another process reported (in its events): known here, never written from here. */
  refresh(job: Job, fields: Partial<Job>): void {
    Object.assign(job, fields);
    this.json.delete(job);
  }

  /** Fields that need no write of their own (progress, event counts): they ride along with the next one. */
  touch(job: Job, fields: Partial<Job> = {}): void {
    Object.assign(job, fields);
    this.changed(job);
  }

  async remove(jobs: Job[]): Promise<void> {
    for (const job of jobs) {
      if (this.jobs.get(job.id) !== job) continue;
      this.drop(job);
      this.removedIds.add(job.id);
    }
    await this.persist();
  }

  private drop(job: Job): void {
    this.jobs.delete(job.id);
    this.dirty.delete(job);
    for (const map of this.tables.values()) map.delete(job.id);
    const key = clientKey({ tenant: job.tenant ?? '', clientId: job.clientId });
    const set = this.byClient.get(key);
    set?.delete(job);
    if (set && set.size === 0) this.byClient.delete(key);
    this.emit('removed', job);
  }

  /** Wait until everything changed so far is on disk. */
  async flush(): Promise<void> {
    if (this.waiting.length || this.draining || this.dirty.size || this.recordChanges.size) await this.persist();
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.draining) await this.draining;
    this.closed = true;
    await this.persistence?.close();
  }

  /** Rewrite the snapshot now and start an empty journal (files only). */
  async compact(): Promise<void> {
    await this.flush();
    await this.persistence?.compact?.();
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
    const records: Record<string, Record<string, unknown>> = {};
    for (const [name, map] of this.records) if (map.size) records[name] = Object.fromEntries(map);
    return `{"version":1,"records":${JSON.stringify(records)},"jobs":[\n${parts.join(',\n')}\n]}\n`;
  }

  /** Resolves once the current state is on disk; changes until the next write all share it. */
  private persist(): Promise<void> {
    if (!this.persistence || this.closed) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    // Start on the next tick so everything changed in this one joins the same write.
    if (!this.draining) this.draining = new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    return done;
  }

  private async drain(): Promise<void> {
    const persistence = this.persistence!;
    while (this.waiting.length || this.outbox.length) {
      const batch = this.waiting;
      this.waiting = [];
      const events = this.outbox;
      this.outbox = [];
      // Events alone do not write the jobs touched since the last write: those ride along later.
      const changed = batch.length ? [...this.dirty] : [];
      const removed = batch.length ? [...this.removedIds] : [];
      const records = batch.length ? [...this.recordChanges.values()] : [];
      for (const j of changed) this.dirty.delete(j);
      for (const id of removed) this.removedIds.delete(id);
      if (batch.length) this.recordChanges.clear();
      try {
        await persistence.append(
          changed.map((j) => this.jsonOf(j)),
          removed,
          events,
          records,
        );
        if (persistence.wantsCompaction) await persistence.compact?.();
        for (const w of batch) w.resolve();
      } catch (err) {
        log.error(`writing the job store failed: ${(err as Error).message}`);
        // Keep what was not written for the next attempt.
        for (const j of changed) if (this.jobs.has(j.id)) this.dirty.add(j);
        for (const id of removed) if (!this.jobs.has(id)) this.removedIds.add(id);
        for (const r of records) if (!this.recordChanges.has(`${r.c}\n${r.id}`)) this.recordChanges.set(`${r.c}\n${r.id}`, r);
        for (const w of batch) w.reject(err as Error);
      }
    }
    this.draining = undefined;
  }
}
