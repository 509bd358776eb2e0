// Running one job on one backend: send its inputs, queue the prompt under the job's id, follow
// the backend's events for it, and confirm the result from /history before calling it done.
//
// Completion is confirmed, not assumed: ComfyUI can report success before /history has the
// entry, drops events for a socket that is gone, and answers 200 to a cancel that did nothing.
// The phases and what moves between them are in execution-state.ts; this class performs the
// requests, hooks and timers they call for.
import type { Backend, PromptListener } from './backend.js';
import { BackendError } from '../comfy/client.js';
import { backoffDelay } from '../comfy/retry.js';
import type { BinaryFrame, ComfyMessage } from '../comfy/protocol.js';
import { describeRejection } from '../comfy/protocol.js';
import type { Job } from '../jobs/job.js';
import { JobProgress } from '../jobs/progress.js';
import type { InputFiles } from '../uploads/input-files.js';
import { replaceInputValues } from '../workflows/index.js';
import { logger } from '../log.js';
import type { Effect, ExecutionEvent, ExecutionState, Location, Outcome, Phase, StepContext } from './execution-state.js';
import { step, timersOf } from './execution-state.js';

export type { Outcome } from './execution-state.js';

const log = logger('execution');

/** Reads of /history after the end was reported, while the entry is not written yet. */
const CONFIRM_ATTEMPTS = 5;
/** 50 ms, doubling: the entry is normally there within a few milliseconds. */
const CONFIRM_BACKOFF = { baseMs: 100, maxMs: 1600 };

export interface ExecutionHooks {
  submitted(): void;
  running(): void;
  progress(fraction: number): void;
  preview?(frame: BinaryFrame): void;
  message?(msg: ComfyMessage): void;
}

export interface ExecutionOptions {
  inputs: InputFiles;
  /**
   * Pick up a prompt queued on the backend by an earlier run of the bridge: nothing is sent, and
   * since its events go to a socket that no longer exists, the outcome is found by polling.
   */
  resume?: boolean;
  /** How often to check /history and /queue while the event socket is down or silent. */
  pollMs: number;
  /** Queued on the backend but not started this long while the backend runs nothing: moved. */
  startTimeoutMs: number;
  /** Running without a single event this long (and not finished): moved. */
  stallTimeoutMs: number;
}

export class Execution implements PromptListener {
  readonly progress: JobProgress;
  private settle!: (o: Outcome) => void;
  private readonly done: Promise<Outcome>;
  private state: ExecutionState = { phase: 'created' };
  private readonly context: StepContext;
  /** The timers of the current phase (see timersOf). */
  private pollTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(readonly job: Job, readonly backend: Backend, private readonly hooks: ExecutionHooks, private readonly options: ExecutionOptions) {
    this.progress = new JobProgress(job.prompt);
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.context = { url: backend.url, startTimeoutMs: options.startTimeoutMs, stallTimeoutMs: options.stallTimeoutMs };
  }

  /** Run to an outcome; never throws. */
  async run(): Promise<Outcome> {
    void this.start().catch((err) => this.apply({ on: 'abandon', reason: (err as Error).message }));
    return this.done;
  }

  /** Stop this job: taken off the backend queue, or interrupted there if it runs. */
  cancel(reason: string): void {
    const { phase } = this.state;
    if (phase !== 'settled' && this.state.cancel === undefined) log.debug({ job: this.job.id, backend: this.backend.url }, `cancel (${reason}) while ${phase}`);
    this.apply({ on: 'cancel', reason });
  }

  /** Give up on this backend (it died or hangs): the job goes back to the queue. */
  abandon(reason: string): void {
    this.apply({ on: 'abandon', reason });
  }

  /** Its backend left the pool: take the job back unless it has started there (then it finishes there). */
  withdraw(reason: string): void {
    this.apply({ on: 'withdraw', reason });
  }

  // ── the state machine ──────────────────────────────────────────────────────────────────────

  /** Asked afresh after every await: events, cancels and timers move the state meanwhile. */
  private in(...phases: Phase[]): boolean {
    return phases.includes(this.state.phase);
  }

  private apply(event: ExecutionEvent): void {
    const before = this.state;
    const { state, effects } = step(before, event, this.context);
    this.state = state;
    if (state.phase !== before.phase) this.enter(state);
    for (const effect of effects) this.perform(effect);
  }

  /** Leaving a phase ends its timers; the new phase starts its own. */
  private enter(state: ExecutionState): void {
    clearTimeout(this.pollTimer);
    clearTimeout(this.watchdog);
    if (state.phase === 'settled') {
      this.backend.unfollow(this.job.id);
      if (state.outcome.kind === 'completed' && this.progress.complete()) this.hooks.progress(1);
      this.settle(state.outcome);
      return;
    }
    const timers = timersOf(state, this.context);
    if (!timers) return;
    this.schedulePoll();
    this.armWatchdog(timers.watchdogMs);
  }

  private perform(effect: Effect): void {
    switch (effect.do) {
      case 'submitted':
        return this.hooks.submitted();
      case 'running':
        return this.hooks.running();
      case 'cancel-on-backend':
        return void this.cancelOnBackend();
      case 'remove-from-backend':
        return void this.removeFromBackend();
      case 'withdraw-from-backend':
        return void this.withdrawFromBackend();
      case 'check':
        return void this.check();
      case 'finish':
        return void this.finish();
      case 'locate':
        return void this.locateForWatchdog();
      case 'arm-watchdog':
        return this.armWatchdog(effect.ms);
    }
  }

  private async start(): Promise<void> {
    const { job, backend } = this;
    if (this.options.resume) {
      backend.follow(job.id, this);
      return this.apply({ on: 'run', resume: true });
    }
    this.apply({ on: 'run', resume: false });
    if (!this.in('sending-inputs')) return;

    // Inputs go to the backend that runs the job, just before it runs.
    const names: Record<string, string> = {};
    for (const ref of job.uploads) {
      let file;
      try {
        file = await this.options.inputs.read(ref, this.job.tenant ?? '');
      } catch {
        return this.apply({ on: 'input-missing', ref });
      }
      try {
        const stored = await backend.client.uploadImage(file.filename, file.bytes, { subfolder: file.subfolder });
        names[ref] = stored.subfolder ? `${stored.subfolder}/${stored.filename}` : stored.filename;
      } catch (err) {
        backend.reportFailure((err as Error).message);
        return this.apply({ on: 'input-not-sent', ref, error: (err as Error).message });
      }
      if (!this.in('sending-inputs')) return;
    }
    const prompt = job.uploads.length ? replaceInputValues(job.prompt, names) : job.prompt;

    const clientId = backend.socket.clientId;
    this.apply({ on: 'inputs-sent', clientId });
    if (!this.in('queueing')) return;

    // Follow before queueing: the first events can arrive before the POST's answer.
    backend.follow(job.id, this);
    let result;
    try {
      result = await backend.client.queuePrompt({ prompt, promptId: job.id, clientId: clientId!, extraData: job.extraData });
    } catch (err) {
      backend.reportFailure((err as Error).message);
      return this.apply({ on: 'queue-failed', error: (err as Error).message });
    }
    if (!result.accepted) return this.apply({ on: 'rejected', error: describeRejection(result.error, result.nodeErrors, prompt) });
    if (!this.in('settled') && Object.keys(result.nodeErrors).length) {
      log.warn({ job: job.id, backend: backend.url }, `accepted with some outputs dropped: ${describeRejection(undefined, result.nodeErrors, prompt)}`);
    }
    this.apply({ on: 'accepted' });
  }

  // ── events from the backend ────────────────────────────────────────────────────────────────

  message(msg: ComfyMessage): void {
    if (this.in('settled')) return;
    this.apply({ on: 'message', msg, now: Date.now() });
    if (this.progress.apply(msg)) this.hooks.progress(this.progress.fraction);
    this.hooks.message?.(msg);
  }

  binary(frame: BinaryFrame): void {
    if (!this.in('settled')) this.hooks.preview?.(frame);
  }

  disconnected(): void {
    this.apply({ on: 'disconnected' });
  }

  // ── timers ─────────────────────────────────────────────────────────────────────────────────

  /** Start timeout while waiting on the backend, stall timeout while running. */
  private armWatchdog(ms: number): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.apply({ on: 'watchdog', now: Date.now() }), ms);
    this.watchdog.unref();
  }

  private schedulePoll(): void {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      const socket = this.backend.socket;
      const quiet = this.options.resume || !socket.connected || Date.now() - socket.lastFrameAt >= this.options.pollMs;
      void (quiet ? this.check() : Promise.resolve()).finally(() => {
        if (timersOf(this.state, this.context)) this.schedulePoll();
      });
    }, this.options.pollMs);
    this.pollTimer.unref();
  }

  // ── asking the backend ─────────────────────────────────────────────────────────────────────

  /** Ask the backend directly what became of the prompt (the socket may have missed it). */
  private async check(): Promise<void> {
    const since = this.state.phase;
    if (since !== 'pending' && since !== 'running') return;
    try {
      this.apply({ on: 'located', where: await this.locate(), by: 'check', since });
    } catch (err) {
      if (err instanceof BackendError) this.backend.reportFailure(err.message);
    }
  }

  private async locateForWatchdog(): Promise<void> {
    const since = this.state.phase;
    try {
      this.apply({ on: 'located', where: await this.locate(), by: 'watchdog', since });
    } catch (err) {
      this.backend.reportFailure((err as Error).message);
      this.apply({ on: 'watchdog-failed' });
    }
  }

  /** Where the prompt is on its backend, from /history and /queue. */
  private async locate(): Promise<Location> {
    const { client } = this.backend;
    const entry = await client.history(this.job.id);
    if (entry) return { at: 'finished', entry };
    const queue = await client.queue();
    if (queue.running.includes(this.job.id)) return { at: 'running' };
    if (queue.pending.includes(this.job.id)) return { at: 'pending', behindOtherWork: queue.running.length > 0 };
    // Not queued and no history: finished between our two reads, or forgotten (restart, deletion).
    const late = await client.history(this.job.id);
    return late ? { at: 'finished', entry: late } : { at: 'gone' };
  }

  /** The end was reported; /history may lag behind the event by a moment. */
  private async finish(): Promise<void> {
    for (let attempt = 0; attempt < CONFIRM_ATTEMPTS && this.in('confirming'); attempt++) {
      try {
        const entry = await this.backend.client.history(this.job.id);
        if (entry) return this.apply({ on: 'history', entry });
      } catch (err) {
        if (err instanceof BackendError) this.backend.reportFailure(err.message);
      }
      // No jitter: one read per job, nothing to spread out.
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, CONFIRM_BACKOFF, 0)));
    }
    this.apply({ on: 'history', entry: undefined });
  }

  private async cancelOnBackend(): Promise<void> {
    const { client } = this.backend;
    try {
      await client.deleteQueued([this.job.id]);
      const queue = await client.queue();
      if (queue.running.includes(this.job.id)) {
        await client.interrupt(this.job.id);
      } else if (!queue.pending.includes(this.job.id)) {
        // Deleted while pending (no events will follow), or finished meanwhile: the history tells.
        await this.check();
      }
    } catch (err) {
      log.warn({ job: this.job.id, backend: this.backend.url }, `cancel failed: ${(err as Error).message}`);
    }
  }

  /** Take the prompt off the backend's queue; where it is then decides (gone: taken back). */
  private async withdrawFromBackend(): Promise<void> {
    try {
      await this.backend.client.deleteQueued([this.job.id]);
      this.apply({ on: 'located', where: await this.locate(), by: 'check', since: 'pending' });
    } catch (err) {
      // Not reachable: it stays until the backend answers again, or is given up on.
      if (err instanceof BackendError) this.backend.reportFailure(err.message);
    }
  }

  /** Best effort: make sure an abandoned prompt does not run later on the backend we left. */
  private async removeFromBackend(): Promise<void> {
    const { client } = this.backend;
    try {
      await client.deleteQueued([this.job.id]);
      const queue = await client.queue();
      if (queue.running.includes(this.job.id)) await client.interrupt(this.job.id);
    } catch {
      // The backend is gone; nothing runs there.
    }
  }
}
