// The bridge's queue and the pool of backends it feeds.
//
// Late binding: jobs wait here, not in ComfyUI. A backend receives a job only when it has a free
// slot (one running plus a small prefetch). The least-loaded healthy backend wins: by queued
// prompts until the bridge has timed some jobs, then by expected finish time (policy.ts). A job
// whose backend is lost goes back to the front of its tier and runs elsewhere. Which job is next
// is the fair-share order (fair-queue.ts): tiers, then tenants and clients taking turns.
//
// The pool changes while it runs (`add`, `remove`); a draining backend keeps its jobs and gets no
// new ones. A removed one gives back the jobs it has not started and finishes the one it runs.
import type { Backend } from './backend.js';
import { Execution } from './execution.js';
import type { Outcome } from './execution.js';
import { chooseBackend, planEarliestFinish, withFreeSlot } from './policy.js';
import type { BackendLoad, PlanChoice, PlanJob, TimedBackend } from './policy.js';
import { LoaderClock, ModelAffinity, modelsOf } from './affinity.js';
import { Estimates } from './estimates.js';
import { FairQueue, tierRank } from './fair-queue.js';
import type { Routing } from './routing.js';
import { workUnits } from '../jobs/progress.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import type { JobStore } from '../jobs/store.js';
import type { InputFiles } from '../uploads/input-files.js';
import type { ComfyMessage } from '../comfy/protocol.js';
import type { JobEventBody } from '../engine/events.js';
import { eventOfFrame, eventsOfMessage, failureDetails, isClosingMessage, recordOf } from '../engine/comfy-events.js';
import { logger } from '../log.js';

const log = logger('scheduler');

/** How far down the queue the earliest-finish plan looks for a job a free backend should take. */
const LOOKAHEAD = 64;
/** Jobs shorter than this (learned per backend) get a deeper pipeline on their backend. */
const SHORT_JOB_SECONDS = 0.05;
const SHORT_JOB_EXTRA_SLOTS = 6;
/** How soon a plan that holds jobs back while a backend is free is looked at again. */
const REPLAN_MS = 250;

/** Why a job went to a backend: the plan's choice and every backend it weighed. */
export interface Explanation {
  jobId: string;
  at: number;
  /** How the choice was made: the learned-speed plan, or fewest queued before speeds are known. */
  policy: 'earliest-finish' | 'fewest-queued' | 'resumed';
  choice?: PlanChoice | { backend: string };
  backends: {
    backend: string;
    healthy: boolean;
    /** Has every node class and model file the job needs, and its pins allow it. */
    canRun: boolean;
    /** What keeps the job off it: node classes and model files it lacks, pins. */
    lacks?: { nodeClasses?: string[]; models?: string[]; pins?: string[] };
    free: boolean;
    idle: boolean;
    /** Seconds until its current work is done, and this job's expected seconds there (run + model loads). */
    busySeconds?: number;
    runSeconds?: number;
    switchSeconds?: number;
    finishSeconds?: number;
    heldModels?: string[];
  }[];
  models: string[];
}

/** Explanations kept (one per job, the newest). */
const EXPLAINED = 2000;

export interface SchedulerOptions {
  prefetch: number;
  maxAttempts: number;
  /** Clients and tenants take turns within a tier (FAIR_SHARE); off: first come, first served. */
  fairShare: boolean;
  pollMs: number;
  startTimeoutMs: number;
  stallTimeoutMs: number;
  /** Which backends may run a job (capabilities, pins); any healthy one when absent. */
  routing?: Routing;
}

/** Where the scheduler reports what happens to jobs (after the job itself is updated). */
export type SchedulerReport = (job: Job, event: JobEventBody, backend?: string) => void;

/** A job on a backend: the one registry of what runs where. */
interface Flight {
  execution: Execution;
  /** How long the job's model loaders ran (a fresh run only). */
  loaders?: LoaderClock;
  /** The message that closed the prompt, as seen live (the history entry may be unreadable). */
  closing?: ComfyMessage;
}

export class Scheduler {
  /** Waiting jobs, in run order by tier and fair share (fair-queue.ts). */
  private readonly queue: FairQueue<Job>;
  /** The latest dispatch time given: each is later than the one before, so turns never tie. */
  private lastDispatchAt: number | undefined;
  private readonly executions = new Map<string, Flight>();
  private rotation = 0;
  /** Learned seconds per work unit of each backend. */
  readonly estimates = new Estimates();
  /** Which models each backend holds, and what loading one costs there. */
  readonly affinity = new ModelAffinity();
  private readonly units = new WeakMap<Job, number>();
  private readonly shapes = new WeakMap<Job, string>();
  private readonly loads_ = new WeakMap<Job, { models: string[]; loaders: string[] }>();
  /** Why recent jobs went where they went (for the operator), newest last. */
  private readonly explained = new Map<string, Explanation>();
  private pumping = false;
  private started = false;
  private stopped = false;
  private replanTimer: NodeJS.Timeout | undefined;
  /** Backends listened to (in the pool or leaving it). */
  private readonly watched = new WeakSet<Backend>();
  /** Removed backends that still hold jobs of ours, and who waits for them to hold none. */
  private readonly leaving = new Map<Backend, (() => void)[]>();

  constructor(
    /** The pool: every backend work may go to (unless draining); changed by `add` and `remove`, in place. */
    readonly backends: Backend[],
    private readonly store: JobStore,
    private readonly inputs: InputFiles,
    private readonly options: SchedulerOptions,
    private readonly report: SchedulerReport,
  ) {
    for (const backend of backends) this.watch(backend);
    this.queue = new FairQueue<Job>(() => store.all(), { fair: options.fairShare });
    // Turns are read from every job held: one removed (or dispatched) changes them.
    store.on('removed', () => this.queue.changed());
  }

  private watch(backend: Backend): void {
    if (this.watched.has(backend)) return;
    this.watched.add(backend);
    backend.on('up', () => {
      // Back from being down: it may have restarted, holding no model.
      this.affinity.forget(backend.url);
      this.pump();
    });
    backend.on('drain', () => this.pump());
    // It may run jobs now that none could before (a node installed, a model added).
    backend.on('capabilities', () => this.pump());
    backend.on('unreachable', (reason) => this.backendLost(backend, reason));
  }

  start(): void {
    this.started = true;
    for (const b of this.backends) b.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.replanTimer);
    await Promise.all([...this.backends, ...this.leaving.keys()].map((b) => b.stop()));
  }

  /** A backend joins the pool (or comes back to it): it takes work once healthy and not draining. */
  add(backend: Backend): void {
    if (this.stopped) return;
    this.watch(backend);
    if (!this.backends.includes(backend)) this.backends.push(backend);
    if (this.started) backend.start();
    this.pump();
  }

  /**
   * A backend leaves the pool: it gets no new work; jobs it holds but has not started come back
   * to the queue (to run elsewhere), and the one it runs finishes there. If it stops answering,
   * every job it holds moves, as for any lost backend. Resolves once it holds none of our jobs.
   */
  remove(backend: Backend): Promise<void> {
    const i = this.backends.indexOf(backend);
    if (i >= 0) this.backends.splice(i, 1);
    this.watch(backend);
    const flights = [...this.executions.values()].filter((f) => f.execution.backend === backend);
    if (flights.length === 0) return Promise.resolve();
    for (const { execution } of flights) execution.withdraw(`${backend.url} was removed from the pool`);
    return new Promise((resolve) => {
      const waiting = this.leaving.get(backend);
      if (waiting) waiting.push(resolve);
      else this.leaving.set(backend, [resolve]);
    });
  }

  /** Jobs waiting in the bridge (not yet on a backend). */
  get waitingCount(): number {
    return this.queue.size;
  }

  /** Jobs on backends (dispatching, queued there, running). */
  get activeCount(): number {
    return this.executions.size;
  }

  /** The waiting jobs in run order (a copy). */
  waitingJobs(): Job[] {
    return [...this.queue.order()];
  }

  /** 1-based place of a waiting job in the queue; undefined when it is not waiting. */
  position(jobId: string): number | undefined {
    return this.queue.position(jobId);
  }

  /** Our jobs each backend holds (dispatching, queued there, running). */
  private held(): Map<Backend, number> {
    const held = new Map<Backend, number>();
    for (const { execution } of this.executions.values()) held.set(execution.backend, (held.get(execution.backend) ?? 0) + 1);
    return held;
  }

  /**
   * Put a queued job in line and dispatch what can be dispatched. Its place follows from its own
   * fields (fair-queue.ts): one that was on a backend before goes to the front of its tier.
   */
  enqueue(jobs: Job | readonly Job[]): void {
    for (const job of Array.isArray(jobs) ? jobs : [jobs]) {
      if (job.state !== 'queued') throw new Error(`job ${job.id} is ${job.state}, not queued`);
      this.queue.add(job);
    }
    this.pump();
  }

  /** Cancel a job wherever it is. Resolves once the job is final. */
  async cancel(job: Job, reason: string): Promise<void> {
    if (isFinal(job)) return;
    if (this.queue.delete(job)) {
      await this.finalCancel(job, reason);
      return;
    }
    const flight = this.executions.get(job.id);
    if (flight) {
      flight.execution.cancel(reason);
      await new Promise<void>((resolve) => {
        const onState = (j: Job) => {
          if (j === job && isFinal(j)) {
            this.store.off('state', onState);
            resolve();
          }
        };
        this.store.on('state', onState);
        if (isFinal(job)) onState(job);
      });
      return;
    }
    await this.finalCancel(job, reason);
  }

  private async finalCancel(job: Job, reason: string): Promise<void> {
    const written = this.store.transition(job, 'cancelled', { error: reason });
    this.report(job, { kind: 'cancelled', reason });
    await written;
  }

  private loads(): BackendLoad[] {
    // Our jobs on each backend, and those it has accepted (so its queue_remaining counts them), in one pass.
    const held = new Map<Backend, number>();
    const accepted = new Map<Backend, number>();
    for (const { execution: e } of this.executions.values()) {
      held.set(e.backend, (held.get(e.backend) ?? 0) + 1);
      if (e.job.state !== 'dispatching') accepted.set(e.backend, (accepted.get(e.backend) ?? 0) + 1);
    }
    return this.backends.map((b) => ({
      id: b.url,
      ours: held.get(b) ?? 0,
      slots: this.slotsOf(b, this.queue.head(), held),
      foreign: Math.max(0, b.queueRemaining - (accepted.get(b) ?? 0)),
    }));
  }

  /** Hand waiting jobs to backends with free slots. */
  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      while (this.queue.size > 0) {
        const healthy = this.backends.filter((b) => b.healthy && !b.draining);
        if (healthy.length === 0) break;
        // No slot free for the head: nothing to plan (the whole order is not even needed).
        const head = this.queue.head()!;
        const holding = this.held();
        if (!healthy.some((b) => (holding.get(b) ?? 0) < this.slotsOf(b, head, holding))) break;
        const next = this.estimates.rate(healthy[0].url) !== undefined ? this.nextTimed(healthy) : this.nextByCount(healthy);
        if (!next) {
          // Holding jobs for a faster backend while one is free: the plan changes as running
          // jobs overrun their estimates, so look again soon even if nothing else happens.
          const held = this.held();
          const window = this.queue.order().slice(0, LOOKAHEAD);
          if (healthy.some((b) => (held.get(b) ?? 0) < this.slotsOf(b, head, held) && window.some((j) => this.runs(j, b)))) this.replanSoon();
          break;
        }
        this.queue.delete(next.job);
        this.dispatch(next.job, next.backend);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Jobs a backend may hold: one running plus the prefetch. When its jobs take less time than
   * handing one over does, a deeper pipeline keeps it busy (the same reasoning as the prefetch,
   * scaled to very short jobs). BACKEND_PREFETCH=0 keeps it to one job at a time.
   */
  private slotsOf(backend: Backend, job?: Job, held?: Map<Backend, number>): number {
    const base = 1 + this.options.prefetch;
    if (this.options.prefetch === 0 || !job) return base; // no prefetch asked for: one job at a time
    // The depth rests on the job being placed, as measured for its kind on this backend: a unit
    // rate learned from other jobs would take a sleep or video node for a short job.
    const seconds = this.estimates.shapeSeconds(backend.url, this.shapeOf(job));
    if (seconds === undefined || seconds >= SHORT_JOB_SECONDS) return base;
    // A deeper pipeline only while no other healthy backend holds fewer: none takes more than its share.
    const mine = held?.get(backend) ?? 0;
    const others = this.backends.filter((b) => b !== backend && b.healthy);
    return others.every((b) => (held?.get(b) ?? 0) >= mine) ? base + SHORT_JOB_EXTRA_SLOTS : base;
  }

  private replanSoon(): void {
    if (this.replanTimer) return;
    this.replanTimer = setTimeout(() => {
      this.replanTimer = undefined;
      this.pump();
    }, REPLAN_MS);
    this.replanTimer.unref();
  }

  /** May this job go to this backend (its capabilities, the pins)? */
  private runs(job: Job, backend: Backend): boolean {
    return this.options.routing?.runsOn(job, backend) ?? true;
  }

  /**
   * Before anything is measured: the first job some free backend can run, to the one of those with
   * the fewest prompts queued. A job no healthy backend can run waits without holding up the others.
   */
  private nextByCount(healthy: Backend[]): { job: Job; backend: Backend } | undefined {
    // Rotate the candidate order so equally loaded backends take turns.
    const start = this.rotation++ % healthy.length;
    const ordered = [...healthy.slice(start), ...healthy.slice(0, start)];
    const loads = new Map(this.loads().map((l) => [l.id, l]));
    const free = ordered.filter((b) => withFreeSlot([loads.get(b.url)!]).length > 0);
    if (free.length === 0) return undefined;
    // A job whose backends are all full lets a later one that a free backend can run go first
    // (the backend that frees first takes it then, since it is looked at first).
    for (const job of this.queue.order().slice(0, LOOKAHEAD)) {
      const capable = free.filter((b) => this.runs(job, b));
      if (capable.length === 0) continue;
      const chosen = chooseBackend(capable.map((b) => loads.get(b.url)!));
      const backend = capable.find((b) => b.url === chosen);
      if (!backend) continue;
      this.explain(job, 'fewest-queued', { backend: backend.url });
      return { job, backend };
    }
    return undefined;
  }

  /** With learned speeds: earliest finish over the head of the queue, within the head's tier (see planEarliestFinish). */
  private nextTimed(healthy: Backend[]): { job: Job; backend: Backend } | undefined {
    // Jobs no healthy backend can run wait apart: the window starts at the first one some can.
    const order = this.queue.order();
    const window: Job[] = [];
    let head: number | undefined;
    for (let i = 0; i < order.length && i < LOOKAHEAD * 4; i++) {
      const job = order[i];
      if (head !== undefined && (tierRank(job.tier) !== head || window.length >= LOOKAHEAD)) break;
      if (this.options.routing && !healthy.some((b) => this.runs(job, b))) continue;
      head = tierRank(job.tier);
      window.push(job);
    }
    if (window.length === 0) return undefined;
    const timed = this.timed(healthy, window[0]);
    const now = Date.now();
    const byUrl = new Map(healthy.map((b) => [b.url, b]));
    const plan = planEarliestFinish(
      window.map((j) => ({ ...this.planJob(j, now), ...(this.options.routing && { runsOn: (id: string) => this.runs(j, byUrl.get(id)!) }) })),
      timed,
    );
    if (!plan) return undefined;
    const job = window[plan.job];
    this.explain(job, 'earliest-finish', plan);
    return { job, backend: healthy.find((b) => b.url === plan.backend)! };
  }

  /** The backends as the plan sees them. */
  private timed(healthy: Backend[], head: Job | undefined): TimedBackend[] {
    const held = this.held();
    // Each backend's executions, gathered once: a plan over many backends stays linear.
    const on = new Map<Backend, Execution[]>();
    for (const { execution: e } of this.executions.values()) {
      const list = on.get(e.backend);
      if (list) list.push(e);
      else on.set(e.backend, [e]);
    }
    return healthy.map((b) => {
      const ours = held.get(b) ?? 0;
      return {
        id: b.url,
        free: ours < this.slotsOf(b, head, held),
        idle: ours === 0 && b.queueRemaining === 0,
        busySeconds: this.busySeconds(b, on.get(b) ?? []),
        rate: this.estimates.rate(b.url)!,
        held: this.affinity.held(b.url),
        keeps: this.affinity.keptBy(b.url),
        loadSeconds: (model: string) => this.affinity.costOf(b.url, model),
      };
    });
  }

  private planJob(job: Job, now: number): PlanJob {
    return { units: this.unitsOf(job), models: this.loadsOf(job).models, waitedSeconds: Math.max(0, (now - job.createdAt) / 1000) };
  }

  /** The models a job loads and the nodes that load them. */
  private loadsOf(job: Job): { models: string[]; loaders: string[] } {
    let l = this.loads_.get(job);
    if (!l) this.loads_.set(job, (l = modelsOf(job.prompt)));
    return l;
  }

  /** Record why a job goes where it goes (debug log, and `explanation` for the operator). */
  private explain(job: Job, policy: Explanation['policy'], choice: Explanation['choice']): void {
    const explanation = this.explanationNow(job, policy, choice);
    this.explained.delete(job.id);
    this.explained.set(job.id, explanation);
    if (this.explained.size > EXPLAINED) this.explained.delete(this.explained.keys().next().value!);
    log.debug({ job: job.id, plan: explanation }, `job goes to ${choice?.backend} (${policy}${choice && 'rule' in choice ? `, ${choice.rule}` : ''})`);
  }

  private explanationNow(job: Job, policy: Explanation['policy'], choice?: Explanation['choice']): Explanation {
    const healthy = this.backends.filter((b) => b.healthy);
    const timed = new Map(this.estimates.rate(healthy[0]?.url ?? '') !== undefined ? this.timed(healthy, job).map((t) => [t.id, t]) : []);
    const planJob = this.planJob(job, Date.now());
    const held = this.held();
    return {
      jobId: job.id,
      at: Date.now(),
      policy,
      ...(choice && { choice }),
      models: planJob.models ? [...planJob.models] : [],
      backends: this.backends.map((b) => {
        const t = timed.get(b.url);
        const runSeconds = this.estimates.seconds(b.url, planJob.units);
        const switchSeconds = this.affinity.switchSeconds(b.url, planJob.models ?? []);
        const verdict = this.options.routing && this.options.routing.enabled ? this.options.routing.verdict(this.options.routing.requirementsOf(job), b) : undefined;
        const lacks = verdict && !verdict.ok ? {
          ...(verdict.classes.length && { nodeClasses: verdict.classes }),
          ...(verdict.models.length && { models: [...new Set(verdict.models.map((m) => m.file))] }),
          ...(verdict.pins.length && { pins: verdict.pins }),
        } : undefined;
        return {
          backend: b.url,
          healthy: b.healthy,
          canRun: verdict?.ok ?? true,
          ...(lacks && { lacks }),
          free: (held.get(b) ?? 0) < this.slotsOf(b, job, held),
          idle: (held.get(b) ?? 0) === 0 && b.queueRemaining === 0,
          ...(t && { busySeconds: t.busySeconds }),
          ...(runSeconds !== undefined && { runSeconds }),
          switchSeconds,
          ...(t && runSeconds !== undefined && { finishSeconds: t.busySeconds + runSeconds + switchSeconds }),
          heldModels: this.affinity.held(b.url),
        };
      }),
    };
  }

  /** Why a job went where it went, or, for a waiting job, how the backends look for it now. */
  explanation(job: Job): Explanation | undefined {
    const recorded = this.explained.get(job.id);
    if (recorded) return recorded;
    if (this.queue.has(job)) return this.explanationNow(job, this.estimates.rate(this.backends[0]?.url ?? '') !== undefined ? 'earliest-finish' : 'fewest-queued');
    return undefined;
  }

  /** A job's kind: its node classes and work units (the same workflow with other seeds or texts). */
  private shapeOf(job: Job): string {
    let shape = this.shapes.get(job);
    if (shape === undefined) {
      const classes = [...new Set(Object.values(job.prompt).map((n) => String(n.class_type)))].sort();
      this.shapes.set(job, (shape = `${this.unitsOf(job)}:${classes.join(',')}`));
    }
    return shape;
  }

  private unitsOf(job: Job): number {
    let u = this.units.get(job);
    if (u === undefined) this.units.set(job, (u = workUnits(job.prompt)));
    return u;
  }

  /** Expected seconds until the work on a backend (ours, and an estimate of others') is done. */
  private busySeconds(backend: Backend, executions: readonly Execution[]): number {
    const rate = this.estimates.rate(backend.url) ?? 0;
    let seconds = 0;
    const ours = executions.length;
    const now = Date.now();
    for (const e of executions) {
      const total = this.unitsOf(e.job) * rate;
      const elapsed = e.job.state === 'running' && e.job.startedAt ? (now - e.job.startedAt) / 1000 : 0;
      // A job past its estimate is expected to run about half as long again: the longer it
      // overruns, the less a waiting job should count on that backend.
      seconds += Math.max(total - elapsed, elapsed / 2, total * 0.05);
    }
    const foreign = Math.max(0, backend.queueRemaining - ours);
    const meanJob = this.estimates.meanJobSeconds() ?? 0;
    return seconds + foreign * meanJob;
  }

  /**
   * Take over a job an earlier run of the bridge had put on a backend: follow it there if the
   * backend still has it, otherwise it runs again. `backend`: the one it is on, when it has left
   * the pool (it is then `remove`d after adopting).
   */
  adopt(job: Job, backend = this.backends.find((b) => b.url === job.backend) ?? [...this.leaving.keys()].find((b) => b.url === job.backend)): void {
    if (!backend) {
      const lost = job.backend;
      const written = this.store.transition(job, 'queued', { backend: undefined });
      this.report(job, { kind: 'requeued', reason: `${lost ?? 'its backend'} is no longer configured` }, lost);
      void written.then(() => this.enqueue(job));
      return;
    }
    this.dispatch(job, backend, { resume: true });
  }

  private dispatch(job: Job, backend: Backend, { resume = false } = {}): void {
    const flight: Flight = {} as Flight;
    const execution = new Execution(
      job,
      backend,
      {
        // execution_start can overtake the answer to POST /prompt.
        // Recovery asks the backend about any dispatched job, so these need no write of their own.
        submitted: () => void (job.state === 'dispatching' && this.store.transition(job, 'submitted', {}, { lazy: true })),
        running: () => {
          const before = job.state;
          void this.store.transition(job, 'running', { startedAt: Date.now() }, { lazy: true });
          if (before !== 'running' && job.state === 'running') this.report(job, { kind: 'started' });
        },
        progress: (fraction) => this.advance(job, fraction),
        preview: (frame) => {
          const event = eventOfFrame(frame, job.progress?.node);
          if (event) this.report(job, event);
        },
        message: (msg) => {
          flight.loaders?.observe(msg.type, msg.data, Date.now());
          if (isClosingMessage(msg.type, msg.data)) flight.closing = msg;
          for (const event of eventsOfMessage(msg, job.progress, job.progress?.value ?? 0)) {
            if (event.kind === 'progress') this.store.touch(job, { progress: event.progress });
            this.report(job, event);
          }
        },
      },
      {
        inputs: this.inputs,
        pollMs: this.options.pollMs,
        startTimeoutMs: this.options.startTimeoutMs,
        stallTimeoutMs: this.options.stallTimeoutMs,
        resume,
      },
    );
    flight.execution = execution;
    if (!resume) flight.loaders = new LoaderClock(this.loadsOf(job).loaders);
    else this.explain(job, 'resumed', { backend: backend.url });
    this.executions.set(job.id, flight);
    // The store must know where the job goes before the backend hears of it: after a crash, a
    // job recorded as queued could otherwise run twice.
    const recorded = resume ? Promise.resolve() : this.store.transition(job, 'dispatching', { backend: backend.url, attempts: job.attempts + 1, dispatchedAt: this.dispatchTime() });
    // Its client's turn moved: the order is computed again.
    if (!resume) this.queue.dispatched(job);
    if (!resume) this.report(job, { kind: 'dispatched', backend: backend.url, attempt: job.attempts });
    log.debug({ job: job.id, backend: backend.url }, resume ? 'dispatched (resumed)' : `dispatched (attempt ${job.attempts})`);
    void recorded
      .then(() => execution.run())
      .catch((err): Outcome => ({ kind: 'lost', reason: `could not record the dispatch: ${(err as Error).message}` }))
      .then((outcome) => this.settle(job, backend, outcome));
  }

  /** Now, or just after the latest dispatch time given (turns are told apart by these times). */
  private dispatchTime(): number {
    if (this.lastDispatchAt === undefined) {
      this.lastDispatchAt = -Infinity;
      for (const j of this.store.all()) if (j.dispatchedAt !== undefined && j.dispatchedAt > this.lastDispatchAt) this.lastDispatchAt = j.dispatchedAt;
    }
    this.lastDispatchAt = Math.max(Date.now(), this.lastDispatchAt + 1);
    return this.lastDispatchAt;
  }

  /** The job's fraction done moved (never backwards, also across attempts). */
  private advance(job: Job, value: number): void {
    if (value <= (job.progress?.value ?? 0)) return;
    this.store.touch(job, { progress: { ...job.progress, value } });
  }

  private async settle(job: Job, backend: Backend, outcome: Outcome): Promise<void> {
    const closing = this.executions.get(job.id)?.closing;
    const loaderSeconds = this.executions.get(job.id)?.loaders?.seconds;
    if (outcome.kind === 'completed' && loaderSeconds !== undefined) this.affinity.ran(backend.url, this.loadsOf(job).models, loaderSeconds);
    this.executions.delete(job.id);
    this.leftYet(backend);
    const record = outcome.kind !== 'lost' ? recordOf(outcome.entry) : undefined;
    const optional = record ? { record } : {};
    let written: Promise<void> | undefined;
    switch (outcome.kind) {
      case 'completed':
        // Model loads are learned apart (affinity): the speed is the work's own.
        if (job.startedAt !== undefined) this.estimates.record(backend.url, this.unitsOf(job), Math.max(0, (Date.now() - job.startedAt) / 1000 - (loaderSeconds ?? 0)), this.shapeOf(job));
        written = this.store.transition(job, 'completed', { outputs: outcome.outputs, error: undefined, progress: { value: 1 }, ...optional });
        this.report(job, { kind: 'succeeded', outputs: outcome.outputs.map((f) => ({ ...f })), ...optional });
        break;
      case 'failed':
        log.info({ job: job.id, backend: backend.url }, `job failed: ${outcome.error}`);
        written = this.store.transition(job, 'failed', { error: outcome.error, ...optional });
        this.report(job, { kind: 'failed', error: { message: outcome.error, ...failureDetails(record, closing) }, ...optional });
        break;
      case 'cancelled':
        written = this.store.transition(job, 'cancelled', { error: outcome.reason, ...optional });
        this.report(job, { kind: 'cancelled', reason: outcome.reason, ...optional });
        break;
      case 'lost':
        if (this.stopped) break;
        if (outcome.withdrawn) {
          // It never ran there: the attempt is given back.
          log.info({ job: job.id, backend: backend.url }, `taken back (${outcome.reason}); queued again`);
          await this.store.transition(job, 'queued', { backend: undefined, attempts: Math.max(0, job.attempts - 1) });
          this.report(job, { kind: 'requeued', reason: outcome.reason }, backend.url);
          this.enqueue(job);
        } else if (job.attempts >= this.options.maxAttempts) {
          log.warn({ job: job.id, backend: backend.url }, `job lost after ${job.attempts} attempts: ${outcome.reason}`);
          const error = `gave up after ${job.attempts} attempts; last: ${outcome.reason}`;
          written = this.store.transition(job, 'failed', { error });
          this.report(job, { kind: 'failed', error: { message: error } }, backend.url);
        } else {
          log.warn({ job: job.id, backend: backend.url }, `job lost (${outcome.reason}); queued again`);
          await this.store.transition(job, 'queued', { backend: undefined });
          this.report(job, { kind: 'requeued', reason: outcome.reason }, backend.url);
          this.enqueue(job);
        }
        break;
    }
    await written;
    this.pump();
  }

  /** A backend leaving the pool holds none of our jobs any more: tell those waiting. */
  private leftYet(backend: Backend): void {
    const waiting = this.leaving.get(backend);
    if (!waiting) return;
    for (const { execution } of this.executions.values()) if (execution.backend === backend) return;
    this.leaving.delete(backend);
    for (const resolve of waiting) resolve();
  }

  /**
   * A backend stopped answering: its jobs run again elsewhere (a dropped event socket alone is not
   * this; executions poll /history meanwhile). Jobs queued there would wait for a backend that may
   * never come back.
   */
  private backendLost(backend: Backend, reason: string): void {
    if (this.stopped) return;
    for (const { execution } of this.executions.values()) {
      if (execution.backend === backend) execution.abandon(`${backend.url} went down (${reason})`);
    }
  }
}
