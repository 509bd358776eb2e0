// The dispatcher lease: one key in Redis holding the token of the process that dispatches, with an
// expiry. The holder renews it every third of its length; the others try to take it when it is
// free. This is the single-instance lock Redis documents (SET NX PX, renewed by a script that
// checks the holder), not a consensus protocol: the job writes of the holder are fenced by the
// same key (see redis-link.ts), so a holder that was cut off cannot undo its successor's work.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { logger } from '../log.js';

const log = logger('cluster');

// Keep the lease if it is ours, take it back if it lapsed (Redis restarted, or a long pause)
// while nobody else took it; answer 0 when another process holds it.
const RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

// Give the lease up only if it is still ours.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface LeaseEvents {
  /** This process holds the lease now. */
  gained: [];
  /** Another process holds it now: this one must stop dispatching at once. */
  lost: [];
}

export class DispatcherLease extends EventEmitter<LeaseEvents> {
  private holding = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** After Redis comes back, the holder gets the first chance to keep the lease. */
  private quietUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    readonly token: string,
    readonly ms: number,
  ) {
    super();
    redis.defineCommand('bridgeRenewLease', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('bridgeReleaseLease', { numberOfKeys: 1, lua: RELEASE });
    redis.on('ready', () => {
      if (!this.holding) this.quietUntil = Date.now() + ms;
    });
  }

  get held(): boolean {
    return this.holding;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stop renewing and give the lease up, so another process takes over without waiting. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.holding && this.redis.status === 'ready') {
      await (this.redis as unknown as Scripts).bridgeReleaseLease(this.key, this.token).catch(() => undefined);
    }
    this.holding = false;
  }

  /** Someone else holds it now (a fenced write said so). */
  lostIt(): void {
    if (!this.holding) return;
    this.holding = false;
    log.error('another process holds the dispatcher lease now: this process stops dispatching');
    this.emit('lost');
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.redis.status !== 'ready') return;
      if (this.holding) {
        const kept = await (this.redis as unknown as Scripts).bridgeRenewLease(this.key, this.token, this.ms);
        if (kept !== 1) this.lostIt();
      } else if (Date.now() >= this.quietUntil) {
        const taken = await this.redis.set(this.key, this.token, 'PX', this.ms, 'NX');
        if (taken === 'OK' && !this.stopped) {
          this.holding = true;
          log.info('this process is the dispatcher now');
          this.emit('gained');
        }
      }
    } catch (err) {
      log.warn(`dispatcher lease: ${(err as Error).message}`);
    } finally {
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.tick(), Math.max(50, Math.floor(this.ms / 3)));
        this.timer.unref();
      }
    }
  }
}

interface Scripts {
  bridgeRenewLease(key: string, token: string, ms: number): Promise<number>;
  bridgeReleaseLease(key: string, token: string): Promise<number>;
}
