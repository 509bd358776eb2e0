// One process's link to its cluster's Redis.
//
// It is the job store's persistence: a group commit is one script that writes the changed jobs,
// numbers the commit, and publishes it (the jobs' JSON, the removed ids, and the engine events
// announced with it) on one channel. Every process applies what the others publish, in that one
// order, so job records always arrive before the events about them. A gap in the numbers (a
// dropped subscription, Redis restarted) makes the process reload everything and go on.
//
// Writes of the dispatcher are fenced: they carry its lease token and are refused once another
// process holds the lease, so a dispatcher that was cut off cannot overwrite its successor.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { EngineEvent } from '../engine/events.js';
import type { RecordChange, Records, RemoteChange, Stored, StorePersistence } from '../jobs/store.js';
import type { ClusterKeys } from './redis.js';
import { logger } from '../log.js';

const log = logger('cluster');

/** What a process publishes: one commit. */
export interface Commit {
  /** Its number: consecutive over the whole cluster. */
  v: number;
  /** The process that wrote it. */
  from: string;
  put: Stored[];
  del: string[];
  rec?: RecordChange[];
  events?: EngineEvent[];
  /** A cancel asked for through another process, for the dispatcher. */
  cancel?: { jobId: string; reason: string };
}

export class FencedError extends Error {
  constructor() {
    super('another process holds the dispatcher lease');
  }
}

export interface RedisLinkEvents {
  /** Jobs another process changed (or everything, after a reload). */
  change: [change: RemoteChange, reload: boolean];
  /** Events another process announced, after the jobs they are about. */
  events: [events: EngineEvent[]];
  cancel: [jobId: string, reason: string];
  /** This process's dispatcher writes were refused: another process dispatches now. */
  fenced: [];
  /** Redis reachable (true) or not (false). */
  available: [up: boolean];
}

// KEYS: jobs, version, lease, collections. ARGV: fence token ('' = none), lease ms, channel,
// from, number of puts, number of removals, events JSON ('' = none), cancel JSON ('' = none),
// record hash prefix, number of record changes; then id/json pairs, removed ids, and per record
// change: collection, id, value JSON ('' = delete), the change's JSON.
const COMMIT = `
local fence = ARGV[1]
if fence ~= '' then
  local holder = redis.call('GET', KEYS[3])
  if holder == false then
    redis.call('SET', KEYS[3], fence, 'PX', ARGV[2])
  elseif holder ~= fence then
    return -1
  end
end
local nPut = tonumber(ARGV[5])
local nDel = tonumber(ARGV[6])
local nRec = tonumber(ARGV[10])
local i = 11
local puts = {}
for k = 1, nPut do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  puts[k] = ARGV[i + 1]
  i = i + 2
end
local dels = {}
for k = 1, nDel do
  redis.call('HDEL', KEYS[1], ARGV[i])
  dels[k] = cjson.encode(ARGV[i])
  i = i + 1
end
local recs = {}
for k = 1, nRec do
  if ARGV[i + 2] == '' then
    redis.call('HDEL', ARGV[9] .. ARGV[i], ARGV[i + 1])
  else
    redis.call('HSET', ARGV[9] .. ARGV[i], ARGV[i + 1], ARGV[i + 2])
    redis.call('SADD', KEYS[4], ARGV[i])
  end
  recs[k] = ARGV[i + 3]
  i = i + 4
end
local v = redis.call('INCR', KEYS[2])
local msg = '{"v":' .. v .. ',"from":' .. cjson.encode(ARGV[4]) .. ',"put":[' .. table.concat(puts, ',') .. '],"del":[' .. table.concat(dels, ',') .. ']'
if nRec > 0 then msg = msg .. ',"rec":[' .. table.concat(recs, ',') .. ']' end
if ARGV[7] ~= '' then msg = msg .. ',"events":' .. ARGV[7] end
if ARGV[8] ~= '' then msg = msg .. ',"cancel":' .. ARGV[8] end
redis.call('PUBLISH', ARGV[3], msg .. '}')
return v
`;

// Set a record only if absent, and tell everyone. KEYS: version, collections. ARGV: record hash
// prefix, channel, from, collection, id, value JSON, the change's JSON.
const CLAIM = `
if redis.call('HSETNX', ARGV[1] .. ARGV[4], ARGV[5], ARGV[6]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[4])
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[2], '{"v":' .. v .. ',"from":' .. cjson.encode(ARGV[3]) .. ',"put":[],"del":[],"rec":[' .. ARGV[7] .. ']}')
return v
`;

// Everything at one instant: the commit number, every job, every collection.
// KEYS: jobs, version, collections. ARGV: record hash prefix.
const SNAPSHOT = `
local out = { redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1]) }
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  table.insert(out, name)
  table.insert(out, redis.call('HGETALL', ARGV[1] .. name))
end
return out
`;

export interface RedisLinkOptions {
  keys: ClusterKeys;
  /** This process's id (also its lease token). */
  process: string;
  leaseMs: number;
  /** The lease token while this process dispatches, else undefined: its writes are fenced by it. */
  fence: () => string | undefined;
}

export class RedisLink extends EventEmitter<RedisLinkEvents> implements StorePersistence {
  readonly carriesEvents = true;
  /** The number of the last commit applied here. */
  private applied = 0;
  /** Commits received while a reload is under way. */
  private held: Commit[] | undefined;
  private up = true;
  private closed = false;
  /** Ids this process holds, for a reload to find what others removed. */
  private known: () => Iterable<string> = () => [];

  constructor(
    /** Commands (writes wait through a lost connection). */
    private readonly redis: Redis,
    /** Subscriptions only. */
    private readonly sub: Redis,
    private readonly options: RedisLinkOptions,
  ) {
    super();
    redis.defineCommand('bridgeCommit', { numberOfKeys: 4, lua: COMMIT });
    redis.defineCommand('bridgeClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('bridgeSnapshot', { numberOfKeys: 3, lua: SNAPSHOT });
    const onError = (err: Error) => {
      if (!this.closed) log.warn(`Redis: ${err.message}`);
    };
    redis.on('error', onError);
    sub.on('error', onError);
    for (const conn of [redis, sub]) {
      conn.on('close', () => this.setAvailable());
      conn.on('ready', () => this.setAvailable());
    }
    sub.on('message', (_channel: string, text: string) => this.receive(text));
  }

  /** Redis answers both connections now. */
  get available(): boolean {
    return this.redis.status === 'ready' && this.sub.status === 'ready';
  }

  private setAvailable(): void {
    const now = this.available;
    if (now === this.up || this.closed) return;
    this.up = now;
    if (now) {
      log.info('Redis is reachable again');
      // Commits may have gone by while the subscription was down.
      void this.reload();
    } else {
      log.error('Redis is unreachable: new work is refused until it is back; running jobs go on');
    }
    this.emit('available', now);
  }

  /** The ids of jobs this process holds and has written (asked at each reload). */
  tracks(ids: () => Iterable<string>): void {
    this.known = ids;
  }

  // ── StorePersistence ──────────────────────────────────────────────────────────────────────

  /** Subscribe, then read everything; what arrives meanwhile is held until `follow`. */
  async load(): Promise<{ jobs: Iterable<Stored>; records: Records }> {
    this.held = [];
    await this.sub.subscribe(this.options.keys.channel);
    const { jobs, version, records } = await this.snapshot();
    this.applied = version;
    return { jobs: jobs.values(), records };
  }

  /** Start applying others' commits (once the store holds what `load` read). */
  follow(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const commit of held) this.apply(commit);
  }

  async append(put: string[], removed: string[], events: EngineEvent[], records: RecordChange[]): Promise<void> {
    if (put.length === 0 && removed.length === 0 && events.length === 0 && records.length === 0) return;
    await this.commit(put, removed, events, records);
  }

  async claim(change: RecordChange): Promise<boolean> {
    const { version, collections, records, channel } = this.options.keys;
    const script = this.redis as unknown as { bridgeClaim(...a: string[]): Promise<number> };
    return (await script.bridgeClaim(version, collections, records, channel, this.options.process, change.c, change.id, JSON.stringify(change.v), JSON.stringify(change))) > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.sub.quit(), this.redis.quit()]);
  }

  // ── the rest of the cluster's state ───────────────────────────────────────────────────────

  /** Ask the dispatcher (whichever process it is, now or after a fail-over) to cancel a job. */
  async requestCancel(jobId: string, reason: string): Promise<void> {
    await this.redis.hset(this.options.keys.cancels, jobId, reason);
    await this.commit([], [], [], [], { jobId, reason });
  }

  /** Cancels asked for and not yet done (read by a new dispatcher). */
  async pendingCancels(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.options.keys.cancels)));
  }

  async cancelsDone(jobIds: string[]): Promise<void> {
    if (jobIds.length) await this.redis.hdel(this.options.keys.cancels, ...jobIds);
  }

  async nextGeneration(): Promise<number> {
    return this.redis.incr(this.options.keys.generation);
  }

  async generation(): Promise<number> {
    return Number((await this.redis.get(this.options.keys.generation)) ?? 0);
  }

  // ── commits ───────────────────────────────────────────────────────────────────────────────

  private async commit(put: string[], removed: string[], events: EngineEvent[], records: RecordChange[], cancel?: Commit['cancel']): Promise<number> {
    const fence = this.options.fence() ?? '';
    const args: (string | number)[] = [
      fence,
      this.options.leaseMs,
      this.options.keys.channel,
      this.options.process,
      put.length,
      removed.length,
      events.length ? JSON.stringify(events) : '',
      cancel ? JSON.stringify(cancel) : '',
      this.options.keys.records,
      records.length,
    ];
    for (const json of put) args.push(idOf(json), json);
    args.push(...removed);
    for (const r of records) args.push(r.c, r.id, 'v' in r ? JSON.stringify(r.v) : '', JSON.stringify(r));
    const { jobs, version, lease, collections } = this.options.keys;
    const v = (await (this.redis as unknown as { bridgeCommit(...a: (string | number)[]): Promise<number> }).bridgeCommit(jobs, version, lease, collections, ...args)) as number;
    if (v === -1) {
      this.emit('fenced');
      throw new FencedError();
    }
    return v;
  }

  private receive(text: string): void {
    let commit: Commit;
    try {
      commit = JSON.parse(text) as Commit;
    } catch (err) {
      log.error(`unreadable message on the cluster channel (${(err as Error).message})`);
      return;
    }
    if (this.held) {
      this.held.push(commit);
      return;
    }
    this.apply(commit);
  }

  private apply(commit: Commit): void {
    if (commit.v <= this.applied) return;
    if (commit.v !== this.applied + 1) {
      log.warn(`missed cluster messages ${this.applied + 1}–${commit.v - 1}; reloading`);
      this.held = [commit];
      void this.reload();
      return;
    }
    this.applied = commit.v;
    // Our own commits are already applied here.
    if (commit.from === this.options.process) return;
    if (commit.put.length || commit.del.length || commit.rec?.length) {
      this.emit('change', { put: commit.put.map((job) => ({ json: JSON.stringify(job), job })), removed: commit.del, ...(commit.rec && { records: commit.rec }) }, false);
    }
    if (commit.events?.length) this.emit('events', commit.events);
    if (commit.cancel) this.emit('cancel', commit.cancel.jobId, commit.cancel.reason);
  }

  /** Take everything from Redis again, then the commits that came meanwhile. */
  async reload(): Promise<void> {
    this.held ??= [];
    try {
      const { jobs, version, texts, records } = await this.snapshot();
      const removed = [...this.known()].filter((id) => !jobs.has(id));
      this.emit('change', { put: [...jobs.values()].map((job) => ({ json: texts.get(job.id)!, job })), removed, allRecords: records }, true);
      this.applied = version;
    } catch (err) {
      log.warn(`reloading from Redis failed (${(err as Error).message}); trying again when it answers`);
      this.held = undefined;
      return;
    }
    const held = this.held;
    this.held = undefined;
    for (const commit of held ?? []) this.apply(commit);
  }

  /** Every job and the number of the last commit, read at one instant. */
  private async snapshot(): Promise<{ jobs: Map<string, Stored>; texts: Map<string, string>; version: number; records: Records }> {
    const { jobs: jobsKey, version: versionKey, collections, records: recordPrefix } = this.options.keys;
    const script = this.redis as unknown as { bridgeSnapshot(...a: string[]): Promise<[string, string[], ...(string | string[])[]]> };
    const [version, flat, ...named] = await script.bridgeSnapshot(jobsKey, versionKey, collections, recordPrefix);
    const records: Records = new Map();
    for (let n = 0; n + 1 < named.length; n += 2) {
      const name = named[n] as string;
      const pairs = named[n + 1] as string[];
      const map = new Map<string, unknown>();
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        try {
          map.set(pairs[i], JSON.parse(pairs[i + 1]));
        } catch {
          log.error(`record ${name}/${pairs[i]} in Redis is damaged; skipped`);
        }
      }
      records.set(name, map);
    }
    const jobs = new Map<string, Stored>();
    const texts = new Map<string, string>();
    const all: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) all[flat[i]] = flat[i + 1];
    for (const [id, text] of Object.entries(all)) {
      try {
        jobs.set(id, JSON.parse(text) as Stored);
        texts.set(id, text);
      } catch (err) {
        log.error({ job: id }, `job record in Redis is damaged (${(err as Error).message}); skipped`);
      }
    }
    return { jobs, texts, version: Number(version ?? 0), records };
  }
}

/** The job id of a job's JSON (the store writes `id` first). */
function idOf(json: string): string {
  const m = /^\{"id":"([^"]+)"/.exec(json);
  return m ? m[1] : (JSON.parse(json) as { id: string }).id;
}
