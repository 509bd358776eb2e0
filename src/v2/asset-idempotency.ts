// Idempotency-Key on POST /api/v2/assets, with Stripe's semantics (as POST /api/v2/jobs has
// them): the first request with a key claims it; a retry with the same key and the same upload
// (same bytes, same fields) gets the recorded answer again — the same asset, marked
// `Idempotency-Replayed: true` — while a different upload under that key is 422
// `idempotency_key_reuse`, and a retry while the first is still being received is 409
// `idempotency_conflict` with Retry-After. Keys are per tenant and expire after 24 hours.
//
// The claim is atomic over a cluster (a collection's `claim`). A request that fails gives its key
// back, so the client may retry it; a claim left by a process that died mid-request lapses once
// no request could still be running (REQUEST_TIMEOUT and a minute).
import type { Collection, Engine } from '../engine/index.js';
import { hashOf } from './content-hash.js';

const KEY_TTL_MS = 24 * 3600_000;
const SWEEP_EVERY_MS = 3600_000;
const KEY = /^[\x21-\x7e]{1,255}$/;

/** What a finished request answered. */
export interface Recorded {
  fingerprint: string;
  status: number;
  assetId: string;
  createdNew: boolean;
}

type KeyRecord = { state: 'pending'; at: number } | ({ state: 'done'; at: number } & Recorded);

export type Begun = { kind: 'mine' } | { kind: 'busy' } | { kind: 'done'; recorded: Recorded };

/** Is this a usable Idempotency-Key (1–255 visible ASCII characters)? */
export function isIdempotencyKey(value: string): boolean {
  return KEY.test(value);
}

/** What makes two uploads the same request: the bytes' hash and every field. */
export function uploadFingerprint(hash: string, fields: Record<string, unknown>): string {
  return hashOf(Buffer.from(JSON.stringify([hash, fields])));
}

export class UploadKeys {
  private readonly keys: Collection<KeyRecord>;
  private readonly pendingMs: number;
  private lastSweep = Date.now();

  constructor(engine: Engine) {
    this.keys = engine.collection<KeyRecord>('v2-asset-keys');
    this.pendingMs = engine.config.requestTimeoutMs + 60_000;
  }

  private expired(record: KeyRecord, now: number): boolean {
    return now - record.at > (record.state === 'pending' ? this.pendingMs : KEY_TTL_MS);
  }

  /** Before the upload is received: claim the key, or say what holds it. */
  async begin(tenant: string, key: string, now = Date.now()): Promise<Begun> {
    this.sweep(now);
    const id = `${tenant}\n${key}`;
    let record = this.keys.get(id);
    if (record && this.expired(record, now)) {
      await this.keys.delete(id);
      record = undefined;
    }
    if (!record) {
      if (await this.keys.claim(id, { state: 'pending', at: now })) return { kind: 'mine' };
      record = this.keys.get(id);
    }
    if (!record || record.state === 'pending') return { kind: 'busy' };
    const { state: _state, at: _at, ...recorded } = record;
    return { kind: 'done', recorded };
  }

  /** The request under a claimed key was answered: record what, for its retries. */
  finish(tenant: string, key: string, recorded: Recorded): Promise<void> {
    return this.keys.set(`${tenant}\n${key}`, { state: 'done', at: Date.now(), ...recorded });
  }

  /** The request under a claimed key failed: free the key for a retry. */
  abandon(tenant: string, key: string): Promise<void> {
    return this.keys.delete(`${tenant}\n${key}`);
  }

  /** Drop expired keys, at most once an hour (whichever process gets to it; deleting twice is harmless). */
  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const old = [...this.keys.entries()].filter(([, record]) => this.expired(record, now)).map(([id]) => id);
    for (const id of old) void this.keys.delete(id).catch(() => undefined);
  }
}
