// Running one job on one backend: send its inputs, queue the prompt under the job's id, follow
// the backend's events for it, and confirm the result from /history before calling it done.
//
// Completion is confirmed, not assumed: ComfyUI can report success before /history has the
// entry, drops events for a socket that is gone, and answers 200 to a cancel that did nothing.
import type { Backend, PromptListener } from './backend.js';
import { BackendError } from '../comfy/client.js';
import type { BinaryFrame, ComfyMessage, HistoryEntry } from '../comfy/protocol.js';
import { describeExecutionError, describeRejection, outputFiles } from '../comfy/protocol.js';
import type { Job, OutputFile } from '../jobs/job.js';
import { JobProgress } from '../jobs/progress.js';
import type { InputFiles } from '../uploads/input-files.js';
import { replaceInputValues } from '../workflows/index.js';
import { logger } from '../log.js';

const log = logger('execution');

export type Outcome =
  | { kind: 'completed'; outputs: OutputFile[]; entry?: HistoryEntry }
  | { kind: 'failed'; error: string; entry?: HistoryEntry }
  | { kind: 'cancelled'; reason: string; entry?: HistoryEntry }
  /** The backend died or forgot the prompt: the job may run again elsewhere. */
  | { kind: 'lost'; reason: string };

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
  private settled = false;
  private submitted = false;
  private cancelReason: string | undefined;
  private finishing = false;
  private executionError: string | undefined;
  private interrupted = false;
  /** Outputs seen in `executed` events: the fallback when /history cannot be read. */
  private readonly seenOutputs: Record<string, Record<string, unknown> | null> = {};
  private pollTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  /** When the last event for this prompt arrived: the stall timeout counts from it. */
  private lastEventAt = 0;
  private running = false;

  constructor(readonly job: Job, readonly backend: Backend, private readonly hooks: ExecutionHooks, private readonly options: ExecutionOptions) {
    this.progress = new JobProgress(job.prompt);
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  /** Run to an outcome; never throws. */
  async run(): Promise<Outcome> {
    void this.start().catch((err) => this.resolve({ kind: 'lost', reason: (err as Error).message }));
    return this.done;
  }

  /** Stop this job: taken off the backend queue, or interrupted there if it runs. */
  cancel(reason: string): void {
    if (this.settled || this.cancelReason !== undefined) return;
    this.cancelReason = reason;
    log.debug(`job ${this.job.id}: cancel (${reason}); ${this.submitted ? 'on the backend' : 'before submission'}`);
    if (this.submitted) void this.cancelOnBackend();
  }

  /** Give up on this backend (it died or hangs): the job goes back to the queue. */
  abandon(reason: string): void {
    if (this.settled) return;
    void this.removeFromBackend();
    this.resolve({ kind: 'lost', reason });
  }

  private async start(): Promise<void> {
    if (this.options.resume) return this.resume();
    if (this.cancelReason !== undefined) return this.resolve({ kind: 'cancelled', reason: this.cancelReason });
    const { job, backend } = this;

    // Inputs go to the backend that runs the job, just before it runs.
    const names: Record<string, string> = {};
    for (const ref of job.uploads) {
      let file;
      try {
        file = await this.options.inputs.read(ref);
      } catch {
        return this.resolve({ kind: 'failed', error: `input file ${ref} is no longer available; upload it again` });
      }
      try {
        const stored = await backend.client.uploadImage(file.filename, file.bytes, { subfolder: file.subfolder });
        names[ref] = stored.subfolder ? `${stored.subfolder}/${stored.filename}` : stored.filename;
      } catch (err) {
        backend.reportFailure((err as Error).message);
        return this.resolve({ kind: 'lost', reason: `sending ${ref} to ${backend.url} failed: ${(err as Error).message}` });
      }
      if (this.settled) return;
    }
    const prompt = job.uploads.length ? replaceInputValues(job.prompt, names) : job.prompt;

    const clientId = backend.socket.clientId;
    if (!clientId) return this.resolve({ kind: 'lost', reason: `${backend.url} has no event socket` });
    if (this.cancelReason !== undefined) return this.resolve({ kind: 'cancelled', reason: this.cancelReason });

    // Follow before queueing: the first events can arrive before the POST's answer.
    backend.follow(job.id, this);
    let result;
    try {
      result = await backend.client.queuePrompt({ prompt, promptId: job.id, clientId, extraData: job.extraData });
    } catch (err) {
      backend.reportFailure((err as Error).message);
      // The prompt may have been queued even though the answer was lost: make sure it does not run twice.
      void this.removeFromBackend();
      return this.resolve({ kind: 'lost', reason: (err as Error).message });
    }
    if (this.settled) return;
    if (!result.accepted) {
      return this.resolve({ kind: 'failed', error: `the backend rejected the workflow: ${describeRejection(result.error, result.nodeErrors, prompt)}` });
    }
    if (Object.keys(result.nodeErrors).length) {
      log.warn(`job ${job.id}: accepted with some outputs dropped: ${describeRejection(undefined, result.nodeErrors, prompt)}`);
    }
    this.submitted = true;
    this.hooks.submitted();
    if (this.cancelReason !== undefined) void this.cancelOnBackend();
    this.schedulePoll();
    this.armWatchdog();
  }

  private markRunning(): void {
    if (this.running) return;
    this.running = true;
    this.hooks.running();
    this.armWatchdog();
  }

  /**
   * Start timeout while waiting on the backend, stall timeout while running. Either way the
   * backend is asked before anything is decided: a busy backend or a finished job is not stuck.
   */
  private armWatchdog(): void {
    if (this.settled) return;
    clearTimeout(this.watchdog);
    const ms = this.running ? this.options.stallTimeoutMs : this.options.startTimeoutMs;
    this.watchdog = setTimeout(() => void this.onWatchdog(ms), ms);
    this.watchdog.unref();
  }

  private async onWatchdog(ms: number): Promise<void> {
    if (this.settled || this.finishing) return;
    // Events arrived meanwhile: not stalled; look again when the quiet time could be up.
    const quiet = Date.now() - this.lastEventAt;
    if (this.running && quiet < ms) {
      clearTimeout(this.watchdog);
      this.watchdog = setTimeout(() => void this.onWatchdog(ms), ms - quiet);
      this.watchdog.unref();
      return;
    }
    try {
      const where = await this.locate();
      if (this.settled) return;
      switch (where.at) {
        case 'finished':
          return this.conclude(where.entry);
        case 'gone':
          return this.settleGone();
        case 'running':
          // Not known to run yet: its execution_start was missed. Known to run: it went silent.
          if (!this.running) return this.markRunning();
          return this.abandon(`no progress from ${this.backend.url} for ${ms / 1000}s`);
        case 'pending':
          if (this.running) return this.abandon(`no progress from ${this.backend.url} for ${ms / 1000}s`);
          if (where.behindOtherWork) return this.armWatchdog(); // waiting its turn: not stuck
          return this.abandon(`${this.backend.url} accepted the job but did not start it within ${ms / 1000}s`);
      }
    } catch (err) {
      this.backend.reportFailure((err as Error).message);
      this.armWatchdog();
    }
  }

  private async resume(): Promise<void> {
    this.backend.follow(this.job.id, this);
    this.submitted = true;
    if (this.cancelReason !== undefined) void this.cancelOnBackend();
    await this.check();
    this.schedulePoll();
    this.armWatchdog();
  }

  // ── events from the backend ────────────────────────────────────────────────────────────────

  message(msg: ComfyMessage): void {
    if (this.settled) return;
    const d = msg.data;
    // Cheap on every event; the watchdog compares against it when it fires.
    this.lastEventAt = Date.now();
    switch (msg.type) {
      case 'execution_start':
        this.markRunning();
        break;
      case 'executed':
        if (d.node !== undefined && d.output !== undefined) this.seenOutputs[String(d.node)] = d.output;
        break;
      case 'execution_error':
        // A blocked branch is not a failure: the prompt goes on and may still succeed.
        if (d.exception_type !== 'ExecutionBlocked') this.executionError = describeExecutionError(d);
        break;
      case 'execution_interrupted':
        this.interrupted = true;
        break;
    }
    if (this.progress.apply(msg)) this.hooks.progress(this.progress.fraction);
    this.hooks.message?.(msg);
    // `executing` with node null is the last message of a prompt on every ComfyUI version,
    // and by then the history entry is written.
    if (msg.type === 'executing' && d.node === null) void this.finish();
  }

  binary(frame: BinaryFrame): void {
    if (!this.settled) this.hooks.preview?.(frame);
  }

  disconnected(): void {
    if (!this.settled && this.submitted) void this.check();
  }

  // ── confirming the end ─────────────────────────────────────────────────────────────────────

  private schedulePoll(): void {
    if (this.settled) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      const socket = this.backend.socket;
      const quiet = this.options.resume || !socket.connected || Date.now() - socket.lastFrameAt >= this.options.pollMs;
      void (quiet ? this.check() : Promise.resolve()).finally(() => this.schedulePoll());
    }, this.options.pollMs);
    this.pollTimer.unref();
  }

  /** Ask the backend directly what became of the prompt (the socket may have missed it). */
  private async check(): Promise<void> {
    if (this.settled || this.finishing) return;
    try {
      const where = await this.locate();
      if (this.settled) return;
      if (where.at === 'finished') this.conclude(where.entry);
      else if (where.at === 'running') this.markRunning();
      else if (where.at === 'gone') this.settleGone();
    } catch (err) {
      if (err instanceof BackendError) this.backend.reportFailure(err.message);
    }
  }

  /** Where the prompt is on its backend, from /history and /queue. */
  private async locate(): Promise<
    { at: 'finished'; entry: HistoryEntry } | { at: 'running' } | { at: 'pending'; behindOtherWork: boolean } | { at: 'gone' }
  > {
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

  /** The backend no longer has the prompt: deleted by our cancel, or lost with a restart. */
  private settleGone(): void {
    if (this.cancelReason !== undefined) this.resolve({ kind: 'cancelled', reason: this.cancelReason });
    else this.resolve({ kind: 'lost', reason: `${this.backend.url} no longer knows the prompt (restarted?)` });
  }

  private async finish(): Promise<void> {
    if (this.finishing || this.settled) return;
    this.finishing = true;
    for (let attempt = 0; attempt < 5 && !this.settled; attempt++) {
      try {
        const entry = await this.backend.client.history(this.job.id);
        if (entry) return this.conclude(entry);
      } catch (err) {
        if (err instanceof BackendError) this.backend.reportFailure(err.message);
      }
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
    // No history entry (deleted by someone, or an old server): rely on what the events said.
    this.conclude({ outputs: this.seenOutputs });
  }

  private conclude(entry: HistoryEntry): void {
    if (this.settled) return;
    const messages = entry.status?.messages ?? [];
    const errorMsg = messages.find(([type, data]) => type === 'execution_error' && data?.exception_type !== 'ExecutionBlocked');
    const interrupted = this.interrupted || messages.some(([type]) => type === 'execution_interrupted');
    const failed = entry.status ? entry.status.status_str === 'error' : this.executionError !== undefined || interrupted;
    if (interrupted) {
      if (this.cancelReason !== undefined) return this.resolve({ kind: 'cancelled', reason: this.cancelReason, entry });
      return this.resolve({ kind: 'failed', error: 'interrupted on the backend', entry });
    }
    if (failed) {
      const error = errorMsg ? describeExecutionError(errorMsg[1]) : this.executionError ?? 'execution failed';
      return this.resolve({ kind: 'failed', error, entry });
    }
    const outputs = outputFiles(entry.outputs ?? {}).map((f) => ({ ...f, backend: this.backend.url }));
    this.resolve({ kind: 'completed', outputs, entry });
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
      log.warn(`job ${this.job.id}: cancel on ${this.backend.url} failed: ${(err as Error).message}`);
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

  private resolve(outcome: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.pollTimer);
    clearTimeout(this.watchdog);
    this.backend.unfollow(this.job.id);
    if (outcome.kind === 'completed') {
      if (this.progress.complete()) this.hooks.progress(1);
    }
    this.settle(outcome);
  }
}
