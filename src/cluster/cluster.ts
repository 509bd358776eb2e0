// This process's membership of a cluster: its connections to Redis, the link that carries the
// job store and the event stream, and the dispatcher lease.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { GenerationCounter } from '../jobs/generation-count.js';
import { DispatcherLease } from './lease.js';
import { RedisLink } from './redis-link.js';
import { checkDurability, clusterKeys, connectOrFail } from './redis.js';

export class Cluster {
  private constructor(
    /** This process's id in the cluster (also its lease token). */
    readonly process: string,
    readonly link: RedisLink,
    readonly lease: DispatcherLease,
  ) {}

  /** Connect (or throw naming REDIS_URL), check the server's durability settings. */
  static async join(config: Config): Promise<Cluster> {
    const url = config.redisUrl!;
    const process = `${(await import('node:os')).hostname()}-${globalThis.process.pid}-${randomUUID().slice(0, 8)}`;
    const redis = await connectOrFail(url, 'comfy-bridge');
    let sub;
    try {
      sub = await connectOrFail(url, 'comfy-bridge-sub');
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    await checkDurability(redis);
    const keys = clusterKeys(config.redisPrefix);
    const leaseMs = config.clusterLeaseMs;
    let lease: DispatcherLease | undefined = undefined;
    const link = new RedisLink(redis, sub, {
      keys,
      process,
      leaseMs,
      fence: () => (lease?.held ? lease.token : undefined),
    });
    lease = new DispatcherLease(redis, keys.lease, process, leaseMs);
    link.on('fenced', () => lease!.lostIt());
    return new Cluster(process, link, lease);
  }

  /** The cluster's generation count, in Redis. */
  generations(): GenerationCounter & { value: number } {
    const link = this.link;
    let last = 0;
    return {
      get value() {
        return last;
      },
      next: async () => (last = await link.nextGeneration()),
      current: async () => (last = await link.generation()),
      flush: async () => undefined,
    };
  }

  async leave(): Promise<void> {
    await this.lease.stop();
    await this.link.close();
  }
}
