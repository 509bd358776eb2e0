// The outbox: turns a job's events into delivery records and sends them, on the process that
// dispatches (one process alone always does; in a cluster, the lease holder, and the next holder
// picks up what is pending).
//
// A record is made in the same tick as the engine event, and so in the same store write as the
// job's change that caused it: a crash cannot keep one without the other. It is sent only once
// written. Sending never blocks dispatch (the event listener only writes a record) and is bounded:
// WEBHOOK_CONCURRENCY attempts at once, two per receiver, each within WEBHOOK_TIMEOUT. A job's
// deliveries go one at a time in the order of its events, so a receiver hears of them in order.
// Retries are decided by policy.ts (`nextStep`); this module only applies the answer.
import type { Engine, JobEvent } from '../engine/index.js';
import type { Collection } from '../engine/index.js';
import { logger } from '../log.js';
import { payloadOf, webhookTypeOf } from './events.js';
import { nextStep, retrySchedule, describe } from './policy.js';
import type { RetrySchedule } from './policy.js';
import type { Delivery } from './records.js';
import { DELIVERIES, deliveryId, withAttempt } from './records.js';
import { Sender } from './sender.js';
import type { WebhookSettings } from './settings.js';
import { secretOf } from './settings.js';
import { targetOf } from './target.js';

const log = logger('webhooks');

/** Attempts to one receiver (scheme, host and port) at once, so one slow receiver cannot take every slot. */
const PER_RECEIVER = 2;
/** How often a process looks whether it dispatches now, and how often old records are dropped. */
const TICK_MS = 1_000;
const PRUNE_MS = 60_000;
/** Pumping scans every pending record: at most this often when attempts end in a stream. */
const MIN_PUMP_GAP_MS = 5;

export interface OutboxOptions {
  /** Told how each attempt ended (GET /metrics). */
  metrics?: { webhookDelivery(outcome: 'delivered' | 'retry' | 'dead'): void };
  /** Jitter's random numbers (tests). */
  random?: () => number;
}

/** What the pump needs of a pending record, kept current from the collection. */
interface Due {
  nextAt: number;
  jobId: string;
  /** The engine event's number in its job: a job's deliveries go in this order. */
  seq: number;
  receiver: string;
}

export class Outbox {
  private readonly deliveries: Collection<Delivery>;
  private readonly sender: Sender;
  private readonly schedule: RetrySchedule;
  /** Pending records by id. */
  private readonly pending = new Map<string, Due>();
  /** Made here but not written yet: not sent until they are. */
  private readonly unwritten = new Set<string>();
  private readonly inFlight = new Map<string, { abort: AbortController; done: Promise<void>; receiver: string; jobId: string }>();
  private readonly stops: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private woken = false;
  private stopped = false;
  private lastPrune = 0;
  private lastPump = 0;

  constructor(
    private readonly engine: Engine,
    private readonly settings: WebhookSettings,
    private readonly options: OutboxOptions = {},
  ) {
    this.deliveries = engine.collection<Delivery>(DELIVERIES);
    this.schedule = retrySchedule(settings.retryWindowMs);
    this.sender = new Sender({ timeoutMs: settings.timeoutMs, addresses: settings.addresses });
  }

  start(): void {
    for (const [id, d] of this.deliveries.entries()) this.index(id, d);
    this.stops.push(
      this.engine.events.subscribe((event) => {
        if (!('jobId' in event)) return;
        // Called inside whatever published the event (the scheduler): never throw into it.
        try {
          this.onJobEvent(event);
        } catch (err) {
          log.error({ job: event.jobId }, `webhook for ${event.kind} not made: ${(err as Error).stack ?? err}`);
        }
      }),
    );
    this.stops.push(
      this.engine.onRecord((collection, id, value) => {
        if (collection !== DELIVERIES) return;
        this.index(id, value as Delivery | undefined);
        this.wake();
      }),
    );
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
    this.wake();
  }

  /** Stop sending: attempts under way are cut short and stay pending (sent again after a restart). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const stop of this.stops) stop();
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    for (const f of this.inFlight.values()) f.abort.abort();
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    await this.sender.close();
  }

  // ── making records ───────────────────────────────────────────────────────────────────────

  private onJobEvent(event: JobEvent): void {
    const type = webhookTypeOf(event.kind);
    if (!type || this.stopped || !this.engine.isDispatcher) return;
    const target = targetOf(this.engine, event.jobId);
    const job = this.engine.get(event.jobId);
    if (!target || !job) return;
    const id = deliveryId(job.id, type);
    // A job started again after a lost backend is the same event: one delivery.
    if (this.deliveries.has(id)) return;
    const now = Date.now();
    const body = payloadOf(event, job, now);
    const record: Delivery = { id, type, jobId: job.id, seq: event.seq, tenant: job.tenant ?? '', url: target.url, body, status: 'pending', createdAt: now, since: now, nextAt: now, attempts: 0, failures: 0, log: [] };
    this.unwritten.add(id);
    const written = () => {
      this.unwritten.delete(id);
      this.wake();
    };
    // Set now, in this tick: it joins the store write of the job's change.
    this.deliveries.set(id, record).then(written, (err) => {
      // The store keeps the change and writes it with its next write.
      log.warn({ job: job.id }, `webhook ${type} not written yet: ${(err as Error).message}`);
      written();
    });
  }

  // ── sending ──────────────────────────────────────────────────────────────────────────────

  private index(id: string, d: Delivery | undefined): void {
    if (!d || d.status !== 'pending') this.pending.delete(id);
    else this.pending.set(id, { nextAt: d.nextAt, jobId: d.jobId, seq: d.seq, receiver: receiverOf(d.url) });
  }

  /** Pump soon: once for every change in this tick, and not more often than every few ms. */
  private wake(): void {
    if (this.woken || this.stopped) return;
    this.woken = true;
    const run = () => {
      this.woken = false;
      this.pump();
    };
    const gap = this.lastPump + MIN_PUMP_GAP_MS - Date.now();
    if (gap > 0) setTimeout(run, gap).unref();
    else setImmediate(run);
  }

  private tick(): void {
    this.pump();
    const now = Date.now();
    if (now - this.lastPrune >= PRUNE_MS && this.engine.isDispatcher) {
      this.lastPrune = now;
      this.prune(now);
    }
  }

  /** Start every due attempt there is room for; sleep until the next one is due. */
  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Full: an attempt ending wakes the pump again.
    if (this.stopped || !this.engine.isDispatcher || this.inFlight.size >= this.settings.concurrency) return;
    const now = Date.now();
    this.lastPump = now;
    // A job's deliveries go in the order of its events: only its earliest pending one may go.
    const first = new Map<string, [string, Due]>();
    for (const entry of this.pending) {
      const held = first.get(entry[1].jobId);
      if (!held || entry[1].seq < held[1].seq) first.set(entry[1].jobId, entry);
    }
    const busyJobs = new Set<string>();
    const perReceiver = new Map<string, number>();
    for (const f of this.inFlight.values()) {
      busyJobs.add(f.jobId);
      perReceiver.set(f.receiver, (perReceiver.get(f.receiver) ?? 0) + 1);
    }
    const due: [string, Due][] = [];
    let wakeAt = Infinity;
    for (const entry of first.values()) {
      const [id, d] = entry;
      if (this.inFlight.has(id) || this.unwritten.has(id) || busyJobs.has(d.jobId)) continue;
      if (d.nextAt <= now) due.push(entry);
      else wakeAt = Math.min(wakeAt, d.nextAt);
    }
    due.sort((x, y) => x[1].nextAt - y[1].nextAt);
    for (const [id, d] of due) {
      if (this.inFlight.size >= this.settings.concurrency) break;
      if ((perReceiver.get(d.receiver) ?? 0) >= PER_RECEIVER) continue;
      const record = this.deliveries.get(id);
      if (!record || record.status !== 'pending') continue;
      perReceiver.set(d.receiver, (perReceiver.get(d.receiver) ?? 0) + 1);
      this.begin(record, d.receiver);
    }
    // Attempts ending wake the pump too; the tick catches anything else.
    if (wakeAt !== Infinity) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, wakeAt - now));
      this.timer.unref();
    }
  }

  private begin(record: Delivery, receiver: string): void {
    const abort = new AbortController();
    const done = this.attempt(record, abort.signal).catch((err) => log.error({ job: record.jobId }, `webhook attempt failed: ${(err as Error).stack ?? err}`));
    this.inFlight.set(record.id, {
      abort,
      receiver,
      jobId: record.jobId,
      done: done.finally(() => {
        this.inFlight.delete(record.id);
        this.wake();
      }),
    });
  }

  private async attempt(record: Delivery, signal: AbortSignal): Promise<void> {
    const at = Date.now();
    const secret = secretOf(this.settings, record.tenant);
    const sent = secret
      ? await this.sender.send(record, secret, signal)
      : ({ kind: 'error', error: `no signing secret for ${record.tenant ? `key ${record.tenant}` : 'this bridge'} (WEBHOOK_SECRET / WEBHOOK_SECRETS)`, permanent: true } as const);
    // A stop cut it short: it stays pending, to be sent again after the restart.
    if (this.stopped) return;
    const now = Date.now();
    const current = this.deliveries.get(record.id);
    if (!current || current.status !== 'pending') return;
    const failures = current.failures + 1;
    const next = nextStep(sent, failures, current.since, now, this.schedule, this.options.random);
    const error = sent.kind === 'error' ? sent.error : sent.snippet !== undefined && sent.snippet !== '' ? sent.snippet : undefined;
    const attempt = { at, ms: now - at, ...(sent.kind === 'answered' && { status: sent.status }), ...(error !== undefined && { error }) };
    const fields: Partial<Delivery> =
      next.status === 'pending'
        ? { nextAt: next.nextAt, failures }
        : next.status === 'delivered'
          ? { status: 'delivered', finishedAt: now }
          : { status: 'dead', finishedAt: now, reason: next.reason, failures };
    this.options.metrics?.webhookDelivery(next.status === 'pending' ? 'retry' : next.status);
    const where = { job: record.jobId, delivery: record.id, receiver: receiverOf(record.url) };
    if (next.status === 'delivered') log.debug(where, `webhook ${record.type} delivered (attempt ${current.attempts + 1})`);
    else if (next.status === 'dead') log.warn(where, `webhook ${record.type} given up after ${current.attempts + 1} attempts: ${next.reason}`);
    else log.debug(where, `webhook ${record.type} attempt ${current.attempts + 1} failed (${describe(sent)}); next in ${next.nextAt - now} ms`);
    await this.deliveries.set(record.id, withAttempt(current, attempt, fields)).catch((err) => log.warn(where, `webhook record not written yet: ${(err as Error).message}`));
  }

  // ── housekeeping ─────────────────────────────────────────────────────────────────────────

  /** Drop delivered and dead records past WEBHOOK_RETENTION, and the oldest beyond WEBHOOK_MAX_KEPT. */
  private prune(now: number): void {
    const finished: Delivery[] = [];
    for (const [, d] of this.deliveries.entries()) if (d.status !== 'pending') finished.push(d);
    finished.sort((a, b) => (a.finishedAt ?? a.createdAt) - (b.finishedAt ?? b.createdAt));
    const excess = Math.max(0, finished.length - this.settings.maxKept);
    const drop = finished.filter((d, i) => i < excess || (d.finishedAt ?? d.createdAt) < now - this.settings.retentionMs);
    // All in this tick: one store write.
    for (const d of drop) void this.deliveries.delete(d.id).catch(() => undefined);
    if (drop.length) log.debug(`dropped ${drop.length} old webhook deliveries`);
  }
}

/** scheme://host:port of a URL: what "one receiver" means for the per-receiver bound. */
function receiverOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

