// The run order of waiting jobs: priority tiers, and within a tier a fair share of the pool.
//
// Rule (pure: a function of persisted job fields only, so every process of a cluster computes the
// same order, and a follower's queue positions are the dispatcher's):
//
//   1. Tier: high, then normal, then low.
//   2. Within a tier, a job that was on a backend and came back (its `dispatchedAt` is set while it
//      is queued again) goes first, the earliest dispatched first: it had its turn already.
//   3. The others take turns. Tenants (API keys) take turns; within a tenant its clients take
//      turns; a client's own jobs run in its order (`priority`, lower first — the ComfyUI door's
//      `number`/`front` — then arrival). Turns are rounds: a client's k-th waiting job is in its
//      round k, and in each round the client waiting for its turn longest goes first: since when
//      it waits is the later of when it was last served (the latest `dispatchedAt` of any job of
//      that client the store holds) and when its oldest waiting job arrived; ties by its first
//      job's arrival, then by name. The tenant level is the same over each tenant's sequence so
//      made. (A served client goes back in line as a newcomer would: no client starves, however
//      many new ones come.)
//
// So a client with 500 waiting jobs holds one place per round: another client's single job waits
// behind at most one of them (per tenant ahead of it), not behind 500. Dispatching the head leaves
// the rest of the order as it was (the served client moves from first to last of every round),
// so the predicted order is the order jobs start in while nothing arrives. An arriving job goes
// behind every waiting job of its own client (unless its `priority` puts it first); it moves later jobs of its tenant one round back
// and leaves every other tenant's jobs in their relative order.
//
// With fair share off (FAIR_SHARE=0) the order within a tier is first come, first served:
// returned jobs first, then `priority`, then arrival, whoever sent them.
import type { Job } from '../jobs/job.js';

export const TIERS = ['high', 'normal', 'low'] as const;
export type Tier = (typeof TIERS)[number];
/** The general default tier, and the tier of a job stored before tiers existed (its `priority` still orders it within its client). */
export const DEFAULT_TIER: Tier = 'normal';

export function isTier(value: unknown): value is Tier {
  return typeof value === 'string' && (TIERS as readonly string[]).includes(value);
}

/** 0 for the first tier to run. */
export function tierRank(tier: Tier | undefined): number {
  return TIERS.indexOf(tier ?? DEFAULT_TIER);
}

/** The lower of two tiers (the one that runs later). */
export function lowerTier(a: Tier, b: Tier): Tier {
  return tierRank(a) >= tierRank(b) ? a : b;
}

/** What the order reads of a job: every field persisted with it. */
export type FairJob = Pick<Job, 'id' | 'clientId' | 'tenant' | 'tier' | 'priority' | 'createdAt' | 'dispatchedAt'>;

/** When each client and each tenant last had a job dispatched, from the jobs the store holds. */
export class ServedTimes {
  private readonly clients = new Map<string, number>();
  private readonly tenants = new Map<string, number>();

  static of(jobs: Iterable<Pick<FairJob, 'clientId' | 'tenant' | 'dispatchedAt'>>): ServedTimes {
    const served = new ServedTimes();
    for (const job of jobs) if (job.dispatchedAt !== undefined) served.note(job.tenant ?? '', job.clientId, job.dispatchedAt);
    return served;
  }

  /** A job of this client was dispatched at `at`. */
  note(tenant: string, clientId: string, at: number): void {
    const c = clientOf(tenant, clientId);
    if (at > (this.clients.get(c) ?? -Infinity)) this.clients.set(c, at);
    if (at > (this.tenants.get(tenant) ?? -Infinity)) this.tenants.set(tenant, at);
  }

  client(tenant: string, clientId: string): number {
    return this.clients.get(clientOf(tenant, clientId)) ?? -Infinity;
  }

  tenant(tenant: string): number {
    return this.tenants.get(tenant) ?? -Infinity;
  }
}

/** One string per client (a newline is in neither a tenant name nor a clientId). */
function clientOf(tenant: string, clientId: string): string {
  return `${tenant}\n${clientId}`;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Push every item (a spread of 100,000 would exceed the arguments a call may take). */
function append<T>(to: T[], items: readonly T[]): void {
  for (const item of items) to.push(item);
}

/** A client's own order: `priority`, then arrival, then id. */
function ownOrder(a: FairJob, b: FairJob): number {
  return a.priority - b.priority || a.createdAt - b.createdAt || byText(a.id, b.id);
}

/** The oldest arrival among jobs. */
function oldest(jobs: readonly FairJob[]): number {
  let t = Infinity;
  for (const j of jobs) if (j.createdAt < t) t = j.createdAt;
  return t;
}

/**
 * Round-robin over groups: each group's list is in its own order; the k-th item of every group
 * forms round k, in which groups go by their turn (since when they wait: the later of their last
 * service and their oldest item's arrival; lower first), then by their first item's arrival, then
 * by name.
 */
function rounds<T extends FairJob>(groups: Map<string, T[]>, served: (name: string) => number): T[] {
  const order = [...groups.entries()]
    .map(([name, items]) => ({ name, items, turn: Math.max(served(name), oldest(items)), first: items[0].createdAt }))
    .sort((a, b) => a.turn - b.turn || a.first - b.first || byText(a.name, b.name));
  const out: T[] = [];
  // Groups drop out as they run dry: one pass over the items, however uneven the groups.
  let active = order;
  for (let k = 0; active.length > 0; k++) {
    for (const g of active) out.push(g.items[k]);
    active = active.filter((g) => g.items.length > k + 1);
  }
  return out;
}

/** The jobs of one tier (not returned ones) in fair-share order. */
function fairWithinTier<J extends FairJob>(jobs: J[], served: ServedTimes): J[] {
  // Tenant → client → jobs in the client's own order.
  const tenants = new Map<string, Map<string, J[]>>();
  for (const job of [...jobs].sort(ownOrder)) {
    const tenant = job.tenant ?? '';
    let clients = tenants.get(tenant);
    if (!clients) tenants.set(tenant, (clients = new Map()));
    const list = clients.get(job.clientId);
    if (list) list.push(job);
    else clients.set(job.clientId, [job]);
  }
  const sequences = new Map<string, J[]>();
  for (const [tenant, clients] of tenants) {
    sequences.set(
      tenant,
      rounds(clients, (clientId) => served.client(tenant, clientId)),
    );
  }
  return rounds(sequences, (tenant) => served.tenant(tenant));
}

/**
 * The waiting jobs in run order (see the rule at the top). `served` comes from every job the store
 * holds (`ServedTimes.of(store.all())`); `fair: false` is first come, first served within a tier.
 */
export function fairOrder<J extends FairJob>(waiting: Iterable<J>, served: ServedTimes, { fair = true }: { fair?: boolean } = {}): J[] {
  const tiers: J[][] = TIERS.map(() => []);
  for (const job of waiting) tiers[tierRank(job.tier)].push(job);
  const out: J[] = [];
  for (const jobs of tiers) {
    const returned = jobs.filter((j) => j.dispatchedAt !== undefined).sort((a, b) => a.dispatchedAt! - b.dispatchedAt! || byText(a.id, b.id));
    const fresh = jobs.filter((j) => j.dispatchedAt === undefined);
    append(out, returned);
    append(out, fair ? fairWithinTier(fresh, served) : fresh.sort(ownOrder));
  }
  return out;
}

/** Does a group's first job go before another's: by turn, then arrival, then name (fair), or in own order (first come, first served)? */
function before<J extends FairJob>(a: { job: J; turn: number; name: string }, b: { job: J; turn: number; name: string }, fair: boolean): boolean {
  if (!fair) return ownOrder(a.job, b.job) < 0;
  return (a.turn - b.turn || a.job.createdAt - b.job.createdAt || byText(a.name, b.name)) < 0;
}

/**
 * A set of waiting jobs and their order (the same as `fairOrder`), computed when asked after a
 * change. Kept grouped by tier, tenant and client, each client's list in its own order, so a job
 * arriving or leaving costs little and the order is one pass over the groups, even with thousands
 * waiting. `history` gives every job the store holds (for the turns): call `changed()` when one
 * was removed from the store, `dispatched(job)` when one was handed to a backend.
 */
export class FairQueue<J extends FairJob> {
  /** Each member and where it is kept: a client's list, or the returned jobs. */
  private readonly members = new Map<J, J[] | 'returned'>();
  /** Tier rank → tenant → clientId → the client's waiting jobs in its own order (never dispatched). */
  private readonly fresh: Map<string, Map<string, J[]>>[] = TIERS.map(() => new Map());
  private readonly returned = new Set<J>();
  /** The oldest arrival in a client's list, once asked (dropped when the list loses a job). */
  private readonly since = new WeakMap<J[], number>();
  private served: ServedTimes | undefined;
  private order_: J[] | undefined;
  private places: Map<string, number> | undefined;

  constructor(
    private readonly history: () => Iterable<FairJob>,
    private readonly options: { fair: boolean },
  ) {}

  get size(): number {
    return this.members.size;
  }

  has(job: J): boolean {
    return this.members.has(job);
  }

  add(job: J): void {
    if (this.members.has(job)) return;
    if (job.dispatchedAt !== undefined) {
      this.returned.add(job);
      this.members.set(job, 'returned');
    } else {
      const tenants = this.fresh[tierRank(job.tier)];
      const tenant = job.tenant ?? '';
      let clients = tenants.get(tenant);
      if (!clients) tenants.set(tenant, (clients = new Map()));
      let list = clients.get(job.clientId);
      if (!list) clients.set(job.clientId, (list = []));
      // Usually the latest of its client: placed from the end.
      let i = list.length;
      while (i > 0 && ownOrder(list[i - 1], job) > 0) i--;
      list.splice(i, 0, job);
      const since = this.since.get(list);
      if (since !== undefined && job.createdAt < since) this.since.set(list, job.createdAt);
      this.members.set(job, list);
    }
    this.dirty();
  }

  delete(job: J): boolean {
    const where = this.members.get(job);
    if (where === undefined) return false;
    this.members.delete(job);
    if (where === 'returned') this.returned.delete(job);
    else {
      where.splice(where.indexOf(job), 1);
      this.since.delete(where);
      if (where.length === 0) {
        // Found by the fields it was filed under (they never change while it waits).
        const tenants = this.fresh[tierRank(job.tier)];
        const clients = tenants.get(job.tenant ?? '');
        clients?.delete(job.clientId);
        if (clients?.size === 0) tenants.delete(job.tenant ?? '');
      }
    }
    this.dirty();
    return true;
  }

  /** A job (a member before, or not) was handed to a backend: its client's turn moved. */
  dispatched(job: FairJob): void {
    if (this.served && job.dispatchedAt !== undefined) this.served.note(job.tenant ?? '', job.clientId, job.dispatchedAt);
    this.dirty();
  }

  /** The turns may have changed in ways only the whole history tells (a job removed from the store). */
  changed(): void {
    this.served = undefined;
    this.dirty();
  }

  private dirty(): void {
    this.order_ = undefined;
    this.places = undefined;
  }

  /**
   * A job filed as never dispatched that has a dispatch time now was sent back while it seemed to
   * wait (a process that does not dispatch may hear both in one commit): file it again.
   */
  private refile(): void {
    const moved: J[] = [];
    for (const [job, where] of this.members) if (where !== 'returned' && job.dispatchedAt !== undefined) moved.push(job);
    for (const job of moved) {
      this.delete(job);
      this.add(job);
    }
  }

  /** The first job of the order, found without ordering the rest. */
  head(): J | undefined {
    if (this.order_) return this.order_[0];
    this.refile();
    const served = (this.served ??= ServedTimes.of(this.history()));
    for (let rank = 0; rank < TIERS.length; rank++) {
      let back: J | undefined;
      for (const job of this.returned) {
        if (tierRank(job.tier) !== rank) continue;
        if (!back || job.dispatchedAt! < back.dispatchedAt! || (job.dispatchedAt === back.dispatchedAt && byText(job.id, back.id) < 0)) back = job;
      }
      if (back) return back;
      let best: { job: J; turn: number; name: string } | undefined;
      for (const [tenant, clients] of this.fresh[rank]) {
        let first: { job: J; turn: number; name: string } | undefined;
        let since = Infinity;
        for (const [clientId, list] of clients) {
          let waiting = this.since.get(list);
          if (waiting === undefined) this.since.set(list, (waiting = oldest(list)));
          since = Math.min(since, waiting);
          const candidate = { job: list[0], turn: this.options.fair ? Math.max(served.client(tenant, clientId), waiting) : 0, name: clientId };
          if (!first || before(candidate, first, this.options.fair)) first = candidate;
        }
        if (!first) continue;
        const candidate = { job: first.job, turn: this.options.fair ? Math.max(served.tenant(tenant), since) : 0, name: tenant };
        if (!best || before(candidate, best, this.options.fair)) best = candidate;
      }
      if (best) return best.job;
    }
    return undefined;
  }

  /** The waiting jobs in run order (do not modify). */
  order(): readonly J[] {
    if (this.order_) return this.order_;
    this.refile();
    const served = (this.served ??= ServedTimes.of(this.history()));
    const byTier: J[][] = TIERS.map(() => []);
    for (const job of this.returned) byTier[tierRank(job.tier)].push(job);
    const out: J[] = [];
    TIERS.forEach((_, rank) => {
      append(out, byTier[rank].sort((a, b) => a.dispatchedAt! - b.dispatchedAt! || byText(a.id, b.id)));
      const tenants = this.fresh[rank];
      if (!this.options.fair) {
        const all: J[] = [];
        for (const clients of tenants.values()) for (const list of clients.values()) append(all, list);
        append(out, all.sort(ownOrder));
        return;
      }
      const sequences = new Map<string, J[]>();
      for (const [tenant, clients] of tenants) sequences.set(tenant, rounds(clients, (clientId) => served.client(tenant, clientId)));
      append(out, rounds(sequences, (tenant) => served.tenant(tenant)));
    });
    this.order_ = out;
    return out;
  }

  /** 1-based place of a job in the order; undefined when it is not in the queue. */
  position(jobId: string): number | undefined {
    if (!this.places) this.places = new Map(this.order().map((j, i) => [j.id, i + 1]));
    return this.places.get(jobId);
  }
}
