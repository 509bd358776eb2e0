// Where jobs live: an in-memory index backed by a lowdb JSON file under DATA_DIR.
//
// Durability: `add` resolves only once the job is on disk. Writes never overlap; every change
// made while one is under way joins the next (group commit), so many concurrent accepts cost one
// write. The file is replaced atomically (lowdb writes a temp file and renames it), and before each
// write the previous file becomes jobs.json.bak, so a damaged file is recovered from the last good
// copy instead of being silently emptied. Each job's JSON is cached until it changes, so a write
// costs a join of strings, not a serialisation of every job.
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import type { Job, JobState } from './job.js';
import { canMove, isFinal } from './job.js';
import { logger } from '../log.js';

const log = logger('store');

interface StoreData {
  version: 1;
  jobs: Job[];
}

export interface JobStoreEvents {
  /** A job was added or changed state. */
  state: [job: Job, previous: JobState | undefined];
  /** A job's progress or other non-durable detail changed. */
  progress: [job: Job, fraction: number];
  removed: [job: Job];
}

export class StoreError extends Error {}

export class JobStore extends EventEmitter<JobStoreEvents> {
  private readonly jobs = new Map<string, Job>();
  private readonly byClient = new Map<string, Set<Job>>();
  /** Serialised JSON per job, dropped whenever the job changes. */
  private readonly json = new WeakMap<Job, string>();
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private draining: Promise<void> | undefined;
  private closed = false;

  private constructor(private readonly db: Low<StoreData> | undefined, readonly file: string | undefined) {
    super();
    this.setMaxListeners(0);
  }

  /** A store that keeps nothing on disk (tests of pure behaviour, benchmarks of the baseline). */
  static memory(): JobStore {
    return new JobStore(undefined, undefined);
  }

  static async open(dataDir: string): Promise<JobStore> {
    await fs.mkdir(dataDir, { recursive: true });
    const file = path.join(dataDir, 'jobs.json');
    const data = await readStoreFile(file);
    let store: JobStore | undefined;
    const adapter = new DataFile<StoreData>(file, {
      parse: (text) => JSON.parse(text) as StoreData,
      stringify: () => store!.serialize(),
    });
    store = new JobStore(new Low<StoreData>(adapter, data), file);
    for (const job of data.jobs) store.index(job);
    return store;
  }

  get size(): number {
    return this.jobs.size;
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
    this.emit('state', job, undefined);
    await this.persist();
  }

  /** Move a job to a new state (and set other fields with it); written in the next group commit. */
  transition(job: Job, state: JobState, fields: Partial<Job> = {}): Promise<void> {
    const previous = job.state;
    if (previous !== state && !canMove(previous, state)) {
      log.warn(`ignored move of job ${job.id} from ${previous} to ${state}`);
      return Promise.resolve();
    }
    Object.assign(job, fields, { state });
    if (isFinal(job) && job.finishedAt === undefined) job.finishedAt = Date.now();
    this.json.delete(job);
    this.emit('state', job, previous);
    return this.persist();
  }

  /** Change durable fields without a state change. */
  update(job: Job, fields: Partial<Job>): Promise<void> {
    Object.assign(job, fields);
    this.json.delete(job);
    return this.persist();
  }

  progress(job: Job, fraction: number): void {
    this.emit('progress', job, fraction);
  }

  async remove(jobs: Job[]): Promise<void> {
    for (const job of jobs) {
      if (!this.jobs.delete(job.id)) continue;
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
  }

  private index(job: Job): void {
    this.jobs.set(job.id, job);
    let set = this.byClient.get(job.clientId);
    if (!set) this.byClient.set(job.clientId, (set = new Set()));
    set.add(job);
  }

  /** The whole file's text, reusing each unchanged job's JSON. */
  private serialize(): string {
    const parts: string[] = [];
    for (const job of this.jobs.values()) {
      let text = this.json.get(job);
      if (text === undefined) this.json.set(job, (text = JSON.stringify(job)));
      parts.push(text);
    }
    return `{"version":1,"jobs":[\n${parts.join(',\n')}\n]}\n`;
  }

  /** Resolves once the current state is on disk; changes until the next write all share it. */
  private persist(): Promise<void> {
    if (!this.db || this.closed) return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    // Start on the next tick so everything changed in this one joins the same write.
    if (!this.draining) this.draining = new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    return done;
  }

  private async drain(): Promise<void> {
    const db = this.db!;
    const file = this.file!;
    while (this.waiting.length) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        // The file we are about to replace is the last good copy.
        await fs.rename(file, `${file}.bak`).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        await db.write();
        for (const w of batch) w.resolve();
      } catch (err) {
        log.error(`writing ${file} failed: ${(err as Error).message}`);
        for (const w of batch) w.reject(err as Error);
      }
    }
    this.draining = undefined;
  }
}

/** Read the store, falling back to the last good copy when the file is damaged. */
async function readStoreFile(file: string): Promise<StoreData> {
  const primary = await tryRead(file);
  if (primary.ok && primary.data) return primary.data;
  const backup = await tryRead(`${file}.bak`);
  if (primary.ok) {
    // No file: a first start, or a crash between keeping the last copy and writing the new one.
    if (backup.ok && backup.data) {
      log.warn(`${file} is missing; using ${file}.bak (${backup.data.jobs.length} jobs)`);
      return backup.data;
    }
    if (!backup.ok) throw new StoreError(`${file} is missing and ${file}.bak is damaged (${backup.error}); move ${file}.bak aside to start empty`);
    return { version: 1, jobs: [] };
  }
  if (backup.ok && backup.data) {
    log.error(`${file} is damaged (${primary.error}); recovered ${backup.data.jobs.length} jobs from ${file}.bak`);
    // Keep the damaged file for inspection; the next write recreates the store from memory.
    await fs.rename(file, `${file}.damaged-${Date.now()}`).catch(() => undefined);
    return backup.data;
  }
  throw new StoreError(
    `${file} is damaged (${primary.error}) and no good copy exists (${backup.ok ? 'no backup' : backup.error}). ` +
      'Move the file aside to start with an empty job store; nothing was changed.',
  );
}

async function tryRead(file: string): Promise<{ ok: true; data: StoreData | undefined } | { ok: false; error: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, data: undefined };
    return { ok: false, error: (err as Error).message };
  }
  try {
    const data = JSON.parse(text) as StoreData;
    if (!data || typeof data !== 'object' || !Array.isArray(data.jobs)) return { ok: false, error: 'not a job store' };
    return { ok: true, data };
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
}
