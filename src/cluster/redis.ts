// Connecting to the cluster's Redis: the key names, a first connection that must succeed (or
// start-up stops naming REDIS_URL), and the server settings a cluster depends on.
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { logger } from '../log.js';

const log = logger('cluster');

/** Every key and channel of one cluster, under its prefix. */
export interface ClusterKeys {
  /** Hash: job id → the job's JSON (with its side tables). */
  jobs: string;
  /** Counter: the number of the last message on `channel`. */
  version: string;
  /** Pub/sub channel: job changes and engine events, in one order. */
  channel: string;
  /** String with expiry: the dispatcher's token. */
  lease: string;
  /** Counter: the generation count. */
  generation: string;
  /** Hash: job id → reason, cancels asked for and not yet seen final. */
  cancels: string;
  /** Prefix of each collection's hash (id → JSON). */
  records: string;
  /** Set: the names of the collections. */
  collections: string;
}

export function clusterKeys(prefix: string): ClusterKeys {
  return {
    jobs: `${prefix}jobs`,
    version: `${prefix}version`,
    channel: `${prefix}changes`,
    lease: `${prefix}dispatcher`,
    generation: `${prefix}generation`,
    cancels: `${prefix}cancels`,
    records: `${prefix}rec:`,
    collections: `${prefix}collections`,
  };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

const CONNECT_TIMEOUT_MS = 5000;

/** Options of a long-lived connection: it reconnects for ever, and commands wait for it. */
export function lastingOptions(name: string): RedisOptions {
  return {
    connectionName: name,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Commands wait for the connection to come back rather than fail: a write of the dispatcher
    // must land (or be fenced off), not be dropped.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: true,
  };
}

/**
 * Open a connection that must work now: start-up stops with a message naming REDIS_URL when
 * Redis cannot be reached.
 */
export async function connectOrFail(url: string, name: string): Promise<Redis> {
  const redis = new Redis(url, lastingOptions(name));
  // Reconnection noise is logged by the link once it runs; here the first failure is the answer.
  redis.on('error', () => undefined);
  const failed = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
    timer.unref();
    redis.once('error', (err: Error) => reject(err));
  });
  try {
    await Promise.race([redis.connect().then(() => redis.ping()), failed]);
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot reach Redis at REDIS_URL=${redactUrl(url)}: ${(err as Error).message}`);
  }
  return redis;
}

/**
 * Warn when the Redis server would lose accepted jobs on a crash (no append-only file, or one not
 * synced at least every second) or may evict the bridge's keys.
 */
export async function checkDurability(redis: Redis): Promise<string[]> {
  let settings: Record<string, string>;
  try {
    const flat = (await redis.call('CONFIG', 'GET', '*')) as string[];
    settings = {};
    for (let i = 0; i + 1 < flat.length; i += 2) settings[flat[i]] = flat[i + 1];
  } catch (err) {
    log.info(`could not read the Redis server's settings (${(err as Error).message}); make sure it keeps an append-only file (appendonly yes, appendfsync everysec) and never evicts keys (maxmemory-policy noeviction)`);
    return [];
  }
  const warnings: string[] = [];
  if (settings.appendonly !== 'yes') {
    warnings.push('Redis runs without an append-only file (appendonly no): a Redis crash or restart loses jobs accepted since its last snapshot; set appendonly yes and appendfsync everysec');
  } else if (settings.appendfsync === 'no') {
    warnings.push('Redis syncs its append-only file only when the OS decides (appendfsync no): a crash can lose jobs already accepted; set appendfsync everysec or always');
  }
  const policy = settings['maxmemory-policy'];
  if (policy !== undefined && policy !== 'noeviction' && settings.maxmemory !== '0') {
    warnings.push(`Redis may evict keys when full (maxmemory-policy ${policy}): the bridge's jobs could vanish; set maxmemory-policy noeviction`);
  }
  for (const w of warnings) log.warn(w);
  return warnings;
}
