// The event streams of one job: the engine's events for it become the spec's SSE events, sent to
// every client following it. On connect a client gets the current status, the latest progress and
// preview; then every status change (queue_position updates while queued), progress at most twice
// a second and previews once a second (each a complete snapshot of the latest), every output as it
// is committed, and log lines. The stream ends after the terminal status.
//
// Every frame carries an `id:`, the engine's per-job event number (`seq`), which goes on across
// restarts. A client that reconnects with Last-Event-ID gets the current status and progress, and
// every output with a larger number: none is lost, also across a bridge restart. Frames are sent in
// the order the events came, one task at a time, so a frame's id never claims an output that was
// not sent before it.
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import type { JobEvent } from '../engine/index.js';
import { logger } from '../log.js';
import type { EventStream } from './sse.js';
import type { JobStatus, OutputView, ProgressView } from './job-view.js';
import { TERMINAL, finalStatusOf, isFinalEvent } from './job-view.js';
import type { Preview } from './previews.js';

const log = logger('v2');

/** At most this often, per job, a progress frame; and a preview frame. */
export const PROGRESS_INTERVAL_MS = 500;
export const PREVIEW_INTERVAL_MS = 1000;

/** What a feed reads about its job, from the door. */
export interface FeedSource {
  current(jobId: string): Job | undefined;
  status(job: Job): { status: JobStatus; queue_position: number | null };
  progress(job: Job, status: JobStatus): ProgressView | null;
  preview(jobId: string): Preview | undefined;
  /** The job's outputs as this client's links show them, each with its event number (sizes asked first). */
  outputs(job: Job, base: string): Promise<(OutputView & { seq: number })[]>;
}

interface Subscriber {
  stream: EventStream;
  base: string;
  /** Asset ids of the outputs this client has (sent, or made before it connected without Last-Event-ID). */
  has: Set<string>;
  /** The status frame last sent, as status/queue_position. */
  status?: string;
  /** Is the client waiting for the snapshot? Frames before it are not for it. */
  ready: boolean;
}

export class JobFeed {
  private readonly subscribers = new Set<Subscriber>();
  private chain: Promise<void> = Promise.resolve();
  /** The number of the last event heard: a frame sent for it claims no later output. */
  private heard = 0;
  private lastProgress = 0;
  private lastPreview = 0;
  private progressTimer: NodeJS.Timeout | undefined;
  private previewTimer: NodeJS.Timeout | undefined;
  private over = false;

  constructor(
    readonly jobId: string,
    private readonly source: FeedSource,
    /** Called once the last client is gone or the job is over. */
    private readonly onIdle: (feed: JobFeed) => void,
  ) {}

  get idle(): boolean {
    return this.subscribers.size === 0;
  }

  /** Follow the job on this stream; `lastEventId` is the client's Last-Event-ID, when it sent one. */
  add(stream: EventStream, base: string, lastEventId: number | undefined): void {
    const sub: Subscriber = { stream, base, has: new Set(), ready: false };
    this.subscribers.add(sub);
    stream.onCatchUp = () => {
      const seq = this.heard;
      this.run(() => this.catchUp(sub, seq));
    };
    stream.whenClosed(() => {
      this.subscribers.delete(sub);
      if (this.idle) this.stop();
    });
    this.run(() => this.snapshot(sub, lastEventId));
  }

  /** An event of this job. */
  hear(event: JobEvent): void {
    if (this.over) return;
    this.heard = Math.max(this.heard, event.seq);
    const seq = event.seq;
    if (isFinalEvent(event)) {
      this.over = true;
      const status = finalStatusOf(event);
      const message = event.kind === 'failed' ? event.error.message : event.kind === 'cancelled' ? event.reason : undefined;
      this.run(() => this.finish(status, seq, message, event.kind === 'failed' ? 'error' : 'info'));
      return;
    }
    switch (event.kind) {
      case 'progress':
      case 'cached':
        if (event.kind === 'cached' && event.nodes.length) this.run(() => this.log('info', `${event.nodes.length} node${event.nodes.length > 1 ? 's' : ''} cached`, seq));
        this.throttleProgress();
        break;
      case 'preview':
        this.throttlePreview();
        break;
      case 'output':
        this.run(() => this.sendOutputs(seq));
        break;
      case 'dispatched':
        this.run(() => this.log('info', `sent to a backend (attempt ${event.attempt})`, seq));
        this.statusChanged();
        break;
      case 'requeued':
        this.run(() => this.log('warn', `queued again: ${event.reason}`, seq));
        this.statusChanged();
        break;
      case 'queued':
      case 'started':
        this.statusChanged();
        break;
      default:
        break;
    }
  }

  /** Something the status depends on may have changed (a cancel asked, the queue moved). */
  statusChanged(): void {
    if (this.over) return;
    const job = this.source.current(this.jobId);
    if (job && isFinal(job)) {
      // Final without its event heard (a cluster's stream reloaded meanwhile): end as the record says.
      this.over = true;
      const seq = job.seq ?? this.heard;
      this.run(() => this.finish(this.source.status(job).status, seq, undefined, 'info'));
      return;
    }
    const seq = this.heard;
    this.run(() => this.sendStatus(seq));
  }

  /** Is the job's end being sent? A client that connects now needs a feed of its own. */
  get ending(): boolean {
    return this.over;
  }

  /** End every stream now (the bridge stops, or the job was removed). */
  close(): void {
    this.over = true;
    for (const sub of [...this.subscribers]) sub.stream.end();
    this.stop();
  }

  // ── tasks, run one at a time in order ─────────────────────────────────────────────────────

  private run(task: () => void | Promise<void>): void {
    this.chain = this.chain.then(task).catch((err) => log.warn({ job: this.jobId }, `event stream: ${(err as Error).message}`));
  }

  private async snapshot(sub: Subscriber, lastEventId: number | undefined): Promise<void> {
    const job = this.source.current(this.jobId);
    if (!job) {
      sub.stream.end();
      return;
    }
    const seq = job.seq ?? 0;
    const { status, queue_position } = this.source.status(job);
    const outputs = await this.source.outputs(job, sub.base);
    // Without Last-Event-ID, the outputs so far are the job's to tell (GET); with it, those after it.
    const seen = lastEventId === undefined ? seq : Math.min(lastEventId, seq);
    for (const o of outputs) if (o.seq <= seen) sub.has.add(o.id);
    // The snapshot comes before the outputs it missed: its ids claim none of them.
    const missed = outputs.filter((o) => !sub.has.has(o.id)).map((o) => o.seq);
    const before = missed.length ? Math.min(seq, ...missed) - 1 : seq;
    const progress = this.source.progress(job, status);
    const terminal = TERMINAL.has(status);
    if (!terminal) this.sendStatusTo(sub, status, queue_position, before);
    if (progress) sub.stream.send('progress', progress, before);
    const preview = terminal ? undefined : this.source.preview(this.jobId);
    if (preview) sub.stream.send('preview', previewData(preview), Math.min(before, preview.seq));
    this.sendOutputsTo(sub, outputs, seq);
    sub.ready = true;
    if (terminal) {
      this.sendStatusTo(sub, status, queue_position, seq);
      sub.stream.end();
    }
  }

  private async sendOutputs(seq: number): Promise<void> {
    const job = this.source.current(this.jobId);
    if (!job) return;
    const byBase = new Map<string, (OutputView & { seq: number })[]>();
    for (const sub of this.ready()) {
      if (!byBase.has(sub.base)) byBase.set(sub.base, await this.source.outputs(job, sub.base));
      this.sendOutputsTo(sub, byBase.get(sub.base)!, seq);
    }
  }

  /** The outputs the client does not have, in the order they were made, so no id claims one not sent yet. */
  private sendOutputsTo(sub: Subscriber, outputs: (OutputView & { seq: number })[], seq: number): void {
    for (const { seq: made, ...output } of [...outputs].sort((a, b) => a.seq - b.seq)) {
      if (sub.has.has(output.id)) continue;
      if (!sub.stream.send('output', output, Math.min(made, seq))) continue;
      sub.has.add(output.id);
    }
  }

  private sendStatus(seq: number): void {
    const job = this.source.current(this.jobId);
    if (!job || isFinal(job)) return;
    const { status, queue_position } = this.source.status(job);
    if (TERMINAL.has(status)) return;
    for (const sub of this.ready()) this.sendStatusTo(sub, status, queue_position, seq);
  }

  private sendStatusTo(sub: Subscriber, status: JobStatus, position: number | null, seq: number): void {
    const key = `${status}/${position}`;
    if (sub.status === key) return;
    if (sub.stream.send('status', { status, queue_position: position }, seq)) sub.status = key;
  }

  // A task's frames carry the number of the last event heard when it was queued: every output
  // heard before it was queued ahead of it, so the id claims none not sent.

  private sendProgress(seq: number): void {
    const job = this.source.current(this.jobId);
    if (!job) return;
    const progress = this.source.progress(job, this.source.status(job).status);
    if (!progress) return;
    for (const sub of this.ready()) sub.stream.send('progress', progress, seq, { droppable: true });
  }

  private sendPreview(seq: number): void {
    const preview = this.source.preview(this.jobId);
    if (!preview) return;
    for (const sub of this.ready()) sub.stream.send('preview', previewData(preview), Math.min(seq, preview.seq), { droppable: true });
  }

  /** A client behind got past skipped frames: send it the latest of each. */
  private catchUp(sub: Subscriber, seq: number): void {
    if (!sub.ready || this.over) return;
    const job = this.source.current(this.jobId);
    if (!job) return;
    const progress = this.source.progress(job, this.source.status(job).status);
    if (progress) sub.stream.send('progress', progress, seq, { droppable: true });
    const preview = this.source.preview(this.jobId);
    if (preview) sub.stream.send('preview', previewData(preview), Math.min(seq, preview.seq), { droppable: true });
  }

  private log(level: 'info' | 'warn' | 'error', message: string, seq: number): void {
    for (const sub of this.ready()) sub.stream.send('log', { level, message }, seq, { droppable: true });
  }

  /** The job is over: the outputs not sent yet, the last progress, the terminal status; then the end. */
  private async finish(status: JobStatus, seq: number, message: string | undefined, level: 'info' | 'error'): Promise<void> {
    this.clearTimers();
    if (message) this.log(level, message, seq);
    const job = this.source.current(this.jobId);
    if (job) {
      await this.sendOutputs(seq);
      const progress = this.source.progress(job, status);
      for (const sub of this.ready()) if (progress) sub.stream.send('progress', progress, seq);
    }
    for (const sub of [...this.subscribers]) {
      if (sub.ready) this.sendStatusTo(sub, status, null, seq);
      sub.stream.end();
    }
  }

  // ── throttling ────────────────────────────────────────────────────────────────────────────

  private throttleProgress(): void {
    if (this.progressTimer) return;
    const wait = this.lastProgress + PROGRESS_INTERVAL_MS - Date.now();
    const fire = () => {
      this.progressTimer = undefined;
      this.lastProgress = Date.now();
      const seq = this.heard;
      this.run(() => this.sendProgress(seq));
    };
    if (wait <= 0) fire();
    else this.progressTimer = setTimeout(fire, wait);
  }

  private throttlePreview(): void {
    if (this.previewTimer) return;
    const wait = this.lastPreview + PREVIEW_INTERVAL_MS - Date.now();
    const fire = () => {
      this.previewTimer = undefined;
      this.lastPreview = Date.now();
      const seq = this.heard;
      this.run(() => this.sendPreview(seq));
    };
    if (wait <= 0) fire();
    else this.previewTimer = setTimeout(fire, wait);
  }

  private clearTimers(): void {
    clearTimeout(this.progressTimer);
    clearTimeout(this.previewTimer);
    this.progressTimer = this.previewTimer = undefined;
  }

  private ready(): Subscriber[] {
    return [...this.subscribers].filter((s) => s.ready && !s.stream.isClosed);
  }

  private stop(): void {
    this.clearTimers();
    this.onIdle(this);
  }
}

function previewData(p: Preview): { node_id: string; content_type: string; data_base64: string } {
  return { node_id: p.node, content_type: p.mime, data_base64: p.data };
}
