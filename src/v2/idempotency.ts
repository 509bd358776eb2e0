// Idempotency-Key with Stripe's semantics, per API key (tenant): the first request with a key
// claims it; a retry with the same key and body gets the recorded answer again (same job, no
// second run); the same key with another body is refused (422 idempotency_key_reuse); a retry
// while the first is still being decided gets 409 idempotency_conflict. A request refused before
// its job was recorded gives its key back, so a corrected retry may use it. Keys are forgotten
// IDEMPOTENCY_TTL after they were first used.
//
// Keys live in a collection and are claimed with `claim` (set-if-absent, atomic over a cluster),
// so two identical requests at once, on one process or two, make one job. A key whose request
// died half-way (its process stopped) is taken over after a while, with the same job id, so the
// job is made at most once; an expired key is taken over for a new request. Taking over claims a
// ticket named after the record it replaces, so only one request can.
import { createHash } from 'node:crypto';
import type { Collection, Engine } from '../engine/index.js';
import { newId } from '../ids.js';
import { V2Error } from './errors.js';
import { IdempotencyKeyValue } from './openapi.js';

export const IDEMPOTENCY = 'v2-idempotency';

/** A key no longer decided after this long was left by a request that died. */
const PENDING_STALE_MS = 2 * 60_000;
/** A retry of a request in flight is told to come back after this many seconds. */
const RETRY_AFTER_S = 1;
/** A ticket is only needed while a takeover is decided. */
const TICKET_TTL_MS = 10 * 60_000;

/** An answer as it was given. */
export interface Recorded {
  status: number;
  body: unknown;
}

type KeyRecord =
  | { state: 'pending'; fingerprint: string; jobId: string; nonce: string; at: number; expiresAt: number }
  | { state: 'done'; fingerprint: string; jobId: string; nonce: string; at: number; expiresAt: number; response: Recorded }
  | { state: 'ticket'; expiresAt: number };

/** A request that holds its key: record its answer, or give the key back. */
export interface Claimed {
  /** The id its job must have (kept when a takeover resumes a request that died). */
  jobId: string;
  /** The answer given; a retry gets it again. */
  finish(response: Recorded): Promise<void>;
  /** The request was refused: give the key back, unless its job was made after all. */
  abandon(): Promise<void>;
}

export type Begun = { kind: 'claimed'; claimed: Claimed } | { kind: 'replay'; response: Recorded };

/** A key is 1–255 visible ASCII characters (a uuid is recommended), as the OpenAPI document's header schema says. */
export function checkKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const checked = IdempotencyKeyValue.safeParse(value);
  if (!checked.success) throw new V2Error(400, 'invalid_request', checked.error.issues[0].message);
  return checked.data;
}

/** What makes two requests the same: method, path and body (keys in any order), and any header that counts. */
export function fingerprint(parts: readonly unknown[]): string {
  return createHash('sha256').update(canonical(parts)).digest('base64url');
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export class IdempotencyKeys {
  private readonly records: Collection<KeyRecord>;

  constructor(
    private readonly engine: Engine,
    private readonly ttlMs: number,
  ) {
    this.records = engine.collection<KeyRecord>(IDEMPOTENCY);
  }

  /**
   * Start a request under `key`: replay the recorded answer, refuse (V2Error 409 or 422), or hold
   * the key for this request. `current` answers for a job already made under the key whose answer
   * was never recorded (its request died after making it).
   */
  async begin(tenant: string, key: string, print: string, current: (jobId: string) => Recorded | undefined): Promise<Begun> {
    const id = createHash('sha256').update(`${tenant}\n${key}`).digest('base64url');
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = Date.now();
      const record = this.records.get(id);
      if (record === undefined || record.state === 'ticket') {
        const fresh = this.pending(print, newId(), now);
        if (await this.records.claim(id, fresh)) return { kind: 'claimed', claimed: this.claimed(id, fresh) };
        continue;
      }
      if (now >= record.expiresAt) {
        const fresh = this.pending(print, newId(), now);
        if (await this.takeOver(id, record, fresh)) return { kind: 'claimed', claimed: this.claimed(id, fresh) };
        continue;
      }
      if (record.fingerprint !== print) {
        throw new V2Error(422, 'idempotency_key_reuse', 'this Idempotency-Key was used with another request; use a new key for a new request', {
          first_used_at: new Date(record.at).toISOString(),
        });
      }
      if (record.state === 'done') return { kind: 'replay', response: record.response };
      // Its job was made, but the answer not recorded: the job is the answer.
      const made = this.engine.get(record.jobId) ? current(record.jobId) : undefined;
      if (made) {
        await this.records.set(id, { ...record, state: 'done', response: made });
        return { kind: 'replay', response: made };
      }
      if (now - record.at < PENDING_STALE_MS) {
        throw new V2Error(409, 'idempotency_conflict', 'a request with this Idempotency-Key is still in progress; retry shortly', undefined, {
          'Retry-After': String(RETRY_AFTER_S),
        });
      }
      // The request holding it died before making its job: go on in its place, under its job id.
      const resumed = this.pending(print, record.jobId, now, record.at);
      if (await this.takeOver(id, record, resumed)) return { kind: 'claimed', claimed: this.claimed(id, resumed) };
    }
    throw new V2Error(409, 'idempotency_conflict', 'requests with this Idempotency-Key keep arriving at once; retry shortly', undefined, {
      'Retry-After': String(RETRY_AFTER_S),
    });
  }

  /** Forget keys past their time. */
  async sweep(now = Date.now()): Promise<void> {
    const old = [...this.records.entries()].filter(([, r]) => now >= r.expiresAt).map(([id]) => id);
    await Promise.all(old.map((id) => this.records.delete(id)));
  }

  private pending(print: string, jobId: string, now: number, firstAt = now): KeyRecord & { state: 'pending' } {
    return { state: 'pending', fingerprint: print, jobId, nonce: newId(), at: now, expiresAt: firstAt + this.ttlMs };
  }

  /** Replace `old` with `next` if no other request replaces it first. */
  private async takeOver(id: string, old: KeyRecord & { nonce: string }, next: KeyRecord): Promise<boolean> {
    if (!(await this.records.claim(`${id}.${old.nonce}`, { state: 'ticket', expiresAt: Date.now() + TICKET_TTL_MS }))) return false;
    await this.records.set(id, next);
    return true;
  }

  private claimed(id: string, record: KeyRecord & { state: 'pending' }): Claimed {
    return {
      jobId: record.jobId,
      finish: (response) => this.records.set(id, { ...record, state: 'done', response }),
      abandon: async () => {
        if (this.engine.get(record.jobId)) return;
        // Only this request's own claim is given back.
        const now = this.records.get(id);
        if (now?.state === 'pending' && now.nonce === record.nonce) await this.records.delete(id);
      },
    };
  }
}
