// The dashboard's live feed: one model of the pool and the queue for every open page, looked at a
// few times a second while a page is open and sent as a delta of what changed since the last look
// (one JSON text for all pages). Engine events add what a look cannot see: previews, problems and
// the figures behind the sparklines, gathered even while no page is open.
import type { ServerResponse } from 'node:http';
import type { Engine, EngineEvent } from '../engine/index.js';
import { logger } from '../log.js';
import { backendsOf } from './backends.js';
import { diffQueue } from './queue-diff.js';
import { ThroughputStats } from './stats.js';
import { FeedClient, STREAM_LIMITS, frame } from './stream.js';
import type { StreamLimits } from './stream.js';
import { heldJob, queueRow } from './view.js';
import type { BackendView, BridgeView, Delta, PreviewView, ProblemView, QueueRow, Snapshot, StatsView } from './view.js';

const log = logger('dashboard');

export interface FeedOptions {
  /** How often the model is looked at while a page is open. */
  tickMs: number;
  /** A job's preview goes out at most this often. */
  previewMs: number;
  /** Previews larger than this (base64 characters) are not relayed. */
  maxPreviewChars: number;
  /** Recent problems kept. */
  problems: number;
  limits: StreamLimits;
}

export const FEED_OPTIONS: FeedOptions = { tickMs: 250, previewMs: 1000, maxPreviewChars: 512 * 1024, problems: 100, limits: STREAM_LIMITS };

export class DashboardFeed {
  private readonly options: FeedOptions;
  private readonly clients = new Set<FeedClient>();
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private readonly stats = new ThroughputStats();
  private closed = false;

  // What the pages have been sent, as of version `v`.
  private v = 0;
  private readonly backends = new Map<string, { view: BackendView; json: string }>();
  private order: string[] = [];
  private idOfUrl = new Map<string, string>();
  private queueIds: string[] = [];
  private queue: QueueRow[] = [];
  private bridge: BridgeView | undefined;
  private bridgeJson = '';
  private statsView: StatsView | undefined;
  private statsJson = '';
  /** Recent problems, newest last, as sent; and those heard of since the last look. */
  private readonly problems: ProblemView[] = [];
  private fresh: ProblemView[] = [];
  /** The latest preview of each unfinished job, and when each job's last went out. */
  private readonly previews = new Map<string, PreviewView>();
  private readonly pendingPreviews = new Set<string>();
  private readonly previewSentAt = new Map<string, number>();
  private previewsGone: string[] = [];
  private snapshotText: { v: number; text: string } | undefined;

  constructor(
    private readonly engine: Engine,
    options: Partial<FeedOptions> = {},
  ) {
    this.options = { ...FEED_OPTIONS, ...options };
    this.unsubscribe = engine.events.subscribe((event) => {
      // Listeners run inside whoever publishes (the scheduler): a mistake here must not reach it.
      try {
        this.hear(event);
      } catch (err) {
        log.warn(`dashboard could not take in a ${event.kind} event: ${(err as Error).message}`);
      }
    });
  }

  /** Serve the feed on this response (headers, a snapshot, then deltas) until either side ends it. */
  open(res: ServerResponse): void {
    if (this.closed) {
      res.writeHead(503).end();
      return;
    }
    // Bring the model up to date first: the snapshot is what the next delta starts from.
    this.tick();
    const client = new FeedClient(res, () => this.snapshotFrame(), this.options.limits, (c) => this.clients.delete(c));
    if (client.isClosed) return;
    this.clients.add(client);
    this.timer ??= setInterval(() => {
      if (this.clients.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      this.tick();
    }, this.options.tickMs);
    this.timer.unref();
  }

  /** End every page's stream and stop listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe();
    for (const c of [...this.clients]) c.end();
    this.clients.clear();
  }

  /** The whole model as last sent. */
  snapshot(): Snapshot {
    return {
      v: this.v,
      at: Date.now(),
      bridge: this.bridge!,
      backends: this.order.map((id) => this.backends.get(id)!.view),
      queue: this.queue,
      problems: [...this.problems],
      stats: this.statsView!,
      previews: [...this.previews.values()],
    };
  }

  private snapshotFrame(): string {
    if (this.snapshotText?.v !== this.v) this.snapshotText = { v: this.v, text: frame('snapshot', this.snapshot()) };
    return this.snapshotText.text;
  }

  /** Look at the model, and send what changed to every page. */
  private tick(): void {
    if (this.closed) return;
    let delta: Delta | undefined;
    try {
      delta = this.look(Date.now());
    } catch (err) {
      // What was sent may now differ from the model in ways no delta says: start every page afresh.
      log.warn(`dashboard update failed: ${(err as Error).message}`);
      this.v++;
      for (const c of this.clients) c.resync();
      return;
    }
    if (!delta) return;
    this.v = delta.v;
    if (this.clients.size === 0) return;
    const text = frame('delta', delta);
    for (const c of this.clients) c.delta(text);
  }

  /** What changed since the last look; the model is updated to now. */
  private look(now: number): Delta | undefined {
    const delta: Delta = { v: this.v + 1, at: now };
    let changed = false;

    const infos = backendsOf(this.engine);
    const set: BackendView[] = [];
    const seen = new Set<string>();
    this.idOfUrl = new Map();
    for (const info of infos) {
      const { jobs, ...rest } = info;
      const view: BackendView = { ...rest, jobs: jobs.map((entry) => heldJob(entry, this.engine.get(entry.jobId))) };
      const json = JSON.stringify(view);
      seen.add(info.id);
      this.idOfUrl.set(info.url, info.id);
      if (this.backends.get(info.id)?.json === json) continue;
      this.backends.set(info.id, { view, json });
      set.push(view);
    }
    const removed = this.order.filter((id) => !seen.has(id));
    for (const id of removed) this.backends.delete(id);
    const order = infos.map((i) => i.id);
    // Any change of membership or order sends the whole order (a few dozen ids).
    const reordered = order.join('\n') !== this.order.join('\n');
    if (set.length || removed.length || reordered) {
      delta.backends = { set, removed, ...(reordered && { order }) };
      changed = true;
    }
    this.order = order;

    const rows = this.engine.waiting().map(queueRow);
    const change = diffQueue(this.queueIds, rows);
    if (change) {
      delta.queue = change;
      changed = true;
    }
    this.queue = rows;
    this.queueIds = rows.map((r) => r.id);

    const readiness = this.engine.readiness();
    const bridge: BridgeView = { counts: this.engine.counts(), ready: readiness.ready, ...(readiness.cluster && { role: readiness.cluster.role }) };
    const bridgeJson = JSON.stringify(bridge);
    if (bridgeJson !== this.bridgeJson) {
      this.bridge = bridge;
      this.bridgeJson = bridgeJson;
      delta.bridge = bridge;
      changed = true;
    }

    const stats = this.stats.view(now);
    const statsJson = JSON.stringify(stats);
    if (statsJson !== this.statsJson) {
      this.statsView = stats;
      this.statsJson = statsJson;
      delta.stats = stats;
      changed = true;
    }

    if (this.fresh.length) {
      delta.problems = this.fresh;
      this.problems.push(...this.fresh);
      if (this.problems.length > this.options.problems) this.problems.splice(0, this.problems.length - this.options.problems);
      this.fresh = [];
      changed = true;
    }

    const previews: PreviewView[] = [];
    for (const jobId of this.pendingPreviews) {
      if (now - (this.previewSentAt.get(jobId) ?? 0) < this.options.previewMs) continue;
      const p = this.previews.get(jobId);
      this.pendingPreviews.delete(jobId);
      if (!p) continue;
      previews.push(p);
      this.previewSentAt.set(jobId, now);
    }
    if (previews.length) {
      delta.previews = previews;
      changed = true;
    }
    if (this.previewsGone.length) {
      delta.previewsGone = this.previewsGone;
      this.previewsGone = [];
      changed = true;
    }
    return changed ? delta : undefined;
  }

  // ── what only events tell ──────────────────────────────────────────────────────────────────

  private hear(event: EngineEvent): void {
    switch (event.kind) {
      case 'preview':
        if (event.data.length > this.options.maxPreviewChars) return;
        this.previews.set(event.jobId, {
          jobId: event.jobId,
          ...(event.backend !== undefined && { backend: this.idOfUrl.get(event.backend) ?? event.backend }),
          mime: event.mime,
          data: event.data,
        });
        this.pendingPreviews.add(event.jobId);
        return;
      case 'started': {
        const job = this.engine.get(event.jobId);
        if (job) this.stats.waited(event.at, (event.at - job.createdAt) / 1000);
        return;
      }
      case 'succeeded':
        this.stats.finished(event.at, true);
        this.dropPreview(event.jobId);
        return;
      case 'failed': {
        this.stats.finished(event.at, false);
        this.dropPreview(event.jobId);
        const job = this.engine.get(event.jobId);
        this.problem({
          kind: 'failed',
          at: event.at,
          message: event.error.message,
          jobId: event.jobId,
          ...(event.backend !== undefined && { backend: event.backend }),
          clientId: event.clientId,
          tenant: event.tenant,
          ...(job && { workflow: job.workflow }),
          ...(event.error.node_type && { nodeType: event.error.node_type }),
          ...(event.error.exception_type && { exceptionType: event.error.exception_type }),
        });
        return;
      }
      case 'cancelled':
        this.dropPreview(event.jobId);
        return;
      case 'requeued':
        this.dropPreview(event.jobId);
        this.problem({
          kind: 'requeued',
          at: event.at,
          message: event.reason,
          jobId: event.jobId,
          ...(event.backend !== undefined && { backend: event.backend }),
          clientId: event.clientId,
          tenant: event.tenant,
        });
        return;
      case 'removed':
        for (const j of event.jobs) this.dropPreview(j.jobId);
        return;
      case 'backend':
        // Down on its own: not drained, removed or just added by the operator.
        if (event.state === 'down' && event.reason !== 'removed' && event.reason !== 'added') {
          this.problem({ kind: 'backend-down', at: event.at, message: event.reason ?? 'not usable', backend: event.backend });
        }
        return;
      default:
        return;
    }
  }

  private problem(p: ProblemView): void {
    this.fresh.push(p);
    if (this.fresh.length > this.options.problems) this.fresh.splice(0, this.fresh.length - this.options.problems);
  }

  private dropPreview(jobId: string): void {
    if (!this.previews.delete(jobId)) return;
    this.pendingPreviews.delete(jobId);
    if (this.previewSentAt.delete(jobId)) this.previewsGone.push(jobId);
  }
}
