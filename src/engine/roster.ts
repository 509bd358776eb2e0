// The pool as the operator left it: one record per backend in the `backends` collection (URL,
// credentials, labels, drained, when added and removed), written with the jobs — to DATA_DIR, or
// to Redis where every process of a cluster shares it — and the Backend objects those records
// stand for in this process.
//
// COMFYUI_SERVERS and BACKENDS_FILE only give the first records, when the collection is empty.
// After that every change, made here or on another process, arrives as a record (`apply`) and
// turns into a backend joining or leaving the pool (`joined`, `left`) or draining (its own
// `drain` event). A removed backend's record stays (marked removed), so a restart does not bring
// back what the operator took out; its Backend stays while jobs name it (their files are read
// from it), without probes or socket once it holds no job.
import { EventEmitter } from 'node:events';
import type { Backend } from '../scheduler/backend.js';
import type { BackendAddress, Credentials } from '../comfy/address.js';
import { sameCredentials } from '../comfy/address.js';
import type { Collection } from '../jobs/store.js';
import { backendId } from './backend-spec.js';
import type { BackendSpec } from './backend-spec.js';
import { ClientError } from './errors.js';
import type { BackendState } from './events.js';
import { logger } from '../log.js';

const log = logger('pool');

/** The name of the collection the pool is kept in. */
export const BACKENDS_COLLECTION = 'backends';

export interface BackendRecord {
  /** Without credentials. */
  url: string;
  credentials?: Credentials;
  labels: string[];
  drained: boolean;
  /** ms; the pool's order. */
  addedAt: number;
  /** ms; set once it left the pool. */
  removedAt?: number;
}


/** A backend as the operator sees it (GET /admin/backends). Never carries credentials. */
export interface BackendInfo {
  id: string;
  url: string;
  state: BackendState;
  healthy: boolean;
  draining: boolean;
  labels: string[];
  /** Our jobs on it, running first. */
  jobs: { jobId: string; state: string; progress?: number }[];
  /** Its whole queue, ours and others' prompts. */
  queueRemaining: number;
  /** Learned seconds per work unit (a sampler step or a node), on the process that dispatches. */
  secondsPerUnit?: number;
  /** Learned seconds per job. */
  meanJobSeconds?: number;
  version?: string;
  /** Models it probably holds, most recent first: from the prompts it ran, on the process that dispatches. */
  models?: string[];
  /** Removed from the pool, still finishing jobs it had started. */
  removed?: true;
}

export interface RosterEvents {
  /** A backend joined the pool (added, or added again after it was removed). */
  joined: [backend: Backend];
  /** A backend left the pool (removed); it may still run jobs it had started. */
  left: [backend: Backend];
}

export class Roster extends EventEmitter<RosterEvents> {
  /** The pool (drained ones too), in the order backends were added; changed in place. */
  readonly pool: Backend[] = [];
  /** Removed backends that jobs still name, by URL. */
  private readonly kept = new Map<string, Backend>();

  private constructor(
    private readonly records: Collection<BackendRecord>,
    private readonly make: (address: BackendAddress) => Backend,
  ) {
    super();
  }

  /**
   * The pool from the store; from `seeds` (the environment) when the store has none, or always
   * with `fromEnvironment` (POOL_FROM_ENV). `named`: URLs that stored jobs name, whose removed
   * backends are kept for their files.
   */
  static async open(
    records: Collection<BackendRecord>,
    seeds: readonly BackendSpec[],
    make: (address: BackendAddress) => Backend,
    named: ReadonlySet<string>,
    { fromEnvironment = false } = {},
  ): Promise<Roster> {
    const roster = new Roster(records, make);
    if (records.size === 0) {
      const now = Date.now();
      // One millisecond apart: the order they were given in is the pool's order.
      await Promise.all(seeds.map((seed, i) => records.set(backendId(seed.url), recordOf(seed, now + i))));
      log.info(`the pool starts as COMFYUI_SERVERS and BACKENDS_FILE give it: ${seeds.length} backend(s)`);
    } else if (fromEnvironment) {
      await roster.replaceWith(seeds);
    } else {
      await roster.compareWith(seeds);
    }
    const entries = [...records.entries()].sort(([, a], [, b]) => a.addedAt - b.addedAt);
    for (const [, record] of entries) {
      if (record.removedAt === undefined) roster.pool.push(roster.backendOf(record));
      else if (named.has(record.url)) roster.kept.set(record.url, make(addressOf(record)));
    }
    return roster;
  }

  /**
   * A pool is stored: it stands. The environment only renews the credentials of backends the
   * pool still has (so a password is changed by changing it there and restarting); a backend it
   * names that the pool lacks is not added, only reported.
   */
  private async compareWith(seeds: readonly BackendSpec[]): Promise<void> {
    const missing: string[] = [];
    for (const seed of seeds) {
      const id = backendId(seed.url);
      const record = this.records.get(id);
      if (!record || record.removedAt !== undefined) missing.push(seed.url);
      else if (seed.credentials && !sameCredentials(seed.credentials, record.credentials)) {
        log.info({ backend: seed.url }, 'credentials renewed from the environment');
        await this.records.set(id, { ...record, credentials: seed.credentials });
      }
    }
    if (missing.length) {
      log.warn(
        { backends: missing },
        `the stored pool (changed at run time) does not hold ${missing.join(', ')}, which the environment names: not added. COMFYUI_SERVERS and BACKENDS_FILE only make the first pool; add backends with POST /admin/backends`,
      );
    }
  }

  /**
   * POOL_FROM_ENV: the pool becomes what the environment names. Backends it keeps keep their
   * place and drained flag; others are removed (their records stay, marked so).
   */
  private async replaceWith(seeds: readonly BackendSpec[]): Promise<void> {
    const now = Date.now();
    const wanted = new Set(seeds.map((seed) => backendId(seed.url)));
    const writes = seeds.map((seed, i) => {
      const old = this.records.get(backendId(seed.url));
      const kept = old !== undefined && old.removedAt === undefined;
      return this.records.set(backendId(seed.url), { ...recordOf(seed, kept ? old.addedAt : now + i), drained: kept && old.drained });
    });
    const gone = [...this.records.entries()].filter(([id, r]) => !wanted.has(id) && r.removedAt === undefined);
    for (const [id, record] of gone) writes.push(this.records.set(id, { ...record, removedAt: now }));
    await Promise.all(writes);
    log.info(`the pool is what the environment names (POOL_FROM_ENV): ${seeds.length} backend(s)${gone.length ? `; ${gone.map(([, r]) => r.url).join(', ')} removed` : ''}`);
  }

  /** A record changed (here or on another process): make the pool match it. */
  apply(id: string, value: unknown): void {
    const record = value as BackendRecord | undefined;
    const current = this.pool.find((b) => backendId(b.url) === id);
    if (record === undefined || record.removedAt !== undefined) {
      if (!current) return;
      this.pool.splice(this.pool.indexOf(current), 1);
      this.kept.set(current.url, current);
      this.emit('left', current);
      return;
    }
    if (current) {
      current.labels = [...record.labels];
      current.authorize(record.credentials);
      current.drain(record.drained);
      return;
    }
    const kept = this.kept.get(record.url);
    this.kept.delete(record.url);
    const backend = kept && !kept.isClosed ? kept : this.make(addressOf(record));
    if (kept && kept !== backend) void kept.stop();
    backend.labels = [...record.labels];
    backend.authorize(record.credentials);
    backend.drain(record.drained);
    this.pool.push(backend);
    this.emit('joined', backend);
  }

  private backendOf(record: BackendRecord): Backend {
    const backend = this.make(addressOf(record));
    backend.labels = [...record.labels];
    backend.drain(record.drained);
    return backend;
  }

  // ── what the engine asks ─────────────────────────────────────────────────────────────────

  /** A backend by URL: in the pool, or removed and kept for its jobs. */
  find(url: string): Backend | undefined {
    return this.pool.find((b) => b.url === url) ?? this.kept.get(url);
  }

  inPool(backend: Backend): boolean {
    return this.pool.includes(backend);
  }

  /** Removed backends kept for their jobs. */
  removed(): Backend[] {
    return [...this.kept.values()];
  }

  record(id: string): BackendRecord | undefined {
    return this.records.get(id);
  }

  /** Stop and forget removed backends no job names any more (`busy`: those still finishing jobs). */
  prune(named: ReadonlySet<string>, busy: (backend: Backend) => boolean): void {
    for (const [url, backend] of this.kept) {
      if (named.has(url) || busy(backend)) continue;
      this.kept.delete(url);
      void backend.stop();
    }
  }

  /** Stop every removed backend kept (those of the pool are the scheduler's to stop). */
  async close(): Promise<void> {
    await Promise.all([...this.kept.values()].map((b) => b.stop()));
  }

  // ── the operator's changes: written, then applied through `apply` (here and everywhere) ──

  /** Add a backend; 409 when the pool has it. */
  async add(spec: BackendSpec): Promise<string> {
    const id = backendId(spec.url);
    if (this.records.get(id)?.removedAt === undefined && this.records.has(id)) throw new ClientError(409, `${spec.url} is in the pool already (id ${id})`);
    await this.records.set(id, recordOf(spec, Date.now()));
    return id;
  }

  async remove(id: string): Promise<void> {
    const record = this.live(id);
    await this.records.set(id, { ...record, removedAt: Date.now() });
  }

  async drain(id: string, on: boolean): Promise<void> {
    const record = this.live(id);
    if (record.drained !== on) await this.records.set(id, { ...record, drained: on });
  }

  private live(id: string): BackendRecord {
    const record = this.records.get(id);
    if (!record || record.removedAt !== undefined) throw new ClientError(404, `no backend ${JSON.stringify(id.slice(0, 40))} in the pool; GET /admin/backends lists them`);
    return record;
  }
}

function recordOf(spec: BackendSpec, addedAt: number): BackendRecord {
  return { url: spec.url, ...(spec.credentials && { credentials: spec.credentials }), labels: [...spec.labels], drained: false, addedAt };
}

function addressOf(record: BackendRecord): BackendAddress {
  return record.credentials ? { url: record.url, credentials: record.credentials } : { url: record.url };
}
