// The bridge's Prometheus metrics, all in one place: job counters and timings built from the
// engine's event stream, gauges read when scraped, and the byte counters of the doors' uploads and
// results (one middleware each door installs). The engine knows nothing of this module.
//
// In a cluster every process hears every job event, so counting them everywhere would count each
// job once per process. Job lifecycle figures (submitted, finished, requeues, wait and run times)
// and the gauges of the shared queue (queue depth, our jobs per backend, learned speeds) are
// counted by the process that dispatches when it hears them; a follower exposes none. What is a
// process's own — its doors' bytes and websockets, its view of backend health, its event
// sockets' reconnects, its webhook attempts, Node's process metrics — each process counts.
import type { Context, Next } from 'koa';
import { Readable } from 'node:stream';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine, EngineEvent, JobEvent } from '../engine/index.js';
import { receivedBytes } from '../http/uploads.js';
import { PRIORITY_CLASSES, REQUEUE_KINDS, backendLabel, priorityClass, requeueKind, workflowLabel } from './labels.js';

export const METRIC_PREFIX = 'comfy_bridge_';

/** From 10 ms (a job that is dispatched at once) to 30 min (a long video job). */
export const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800];

/** How one webhook delivery attempt ended: received, to be tried again, or given up. */
export type WebhookOutcome = 'delivered' | 'retry' | 'dead';
export const WEBHOOK_OUTCOMES: readonly WebhookOutcome[] = ['delivered', 'retry', 'dead'];

const FINISHED = { succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' } as const;

export class BridgeMetrics {
  /** This bridge's own registry: several bridges in one process (tests) do not mix. */
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;
  /** When each job last entered the queue, and when its current run started (null: it went back). */
  private readonly queuedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number | null>();
  /** Doors that installed the meter: their series show from the start, at 0. */
  private readonly doors = new Set<string>();

  private readonly submitted: Counter<'workflow' | 'door'>;
  private readonly finished: Counter<'workflow' | 'door' | 'outcome'>;
  private readonly requeues: Counter<'reason'>;
  private readonly waitSeconds: Histogram<'workflow'>;
  private readonly runSeconds: Histogram<'workflow' | 'outcome'>;
  private readonly uploadBytes: Counter<'door'>;
  private readonly resultBytes: Counter<'door'>;
  private readonly webhooks: Counter<'outcome'>;

  constructor(private readonly engine: Engine) {
    const registers = [this.registry];
    const name = (n: string) => `${METRIC_PREFIX}${n}`;
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });

    this.submitted = new Counter({ name: name('jobs_submitted_total'), help: 'Jobs accepted, by workflow (a catalog alias, or "prompt") and door. Counted by the dispatching process.', labelNames: ['workflow', 'door'], registers });
    this.finished = new Counter({ name: name('jobs_finished_total'), help: 'Jobs that reached an end, by workflow, door and outcome (succeeded, failed, cancelled). Counted by the dispatching process.', labelNames: ['workflow', 'door', 'outcome'], registers });
    this.requeues = new Counter({ name: name('job_requeues_total'), help: `Jobs sent back to the queue after losing their backend, by kind of reason (${REQUEUE_KINDS.join(', ')}). Counted by the dispatching process.`, labelNames: ['reason'], registers });
    for (const reason of REQUEUE_KINDS) this.requeues.inc({ reason }, 0);
    this.waitSeconds = new Histogram({ name: name('job_wait_seconds'), help: 'Seconds a job waited from entering the queue (or going back to it) to starting on a backend, by workflow.', labelNames: ['workflow'], buckets: DURATION_BUCKETS, registers });
    this.runSeconds = new Histogram({ name: name('job_run_seconds'), help: 'Seconds from a job starting on a backend to its end, by workflow and outcome.', labelNames: ['workflow', 'outcome'], buckets: DURATION_BUCKETS, registers });
    this.uploadBytes = new Counter({ name: name('upload_bytes_total'), help: 'Bytes of uploaded files received whole by this process, by door.', labelNames: ['door'], registers });
    this.resultBytes = new Counter({ name: name('result_bytes_total'), help: 'Bytes of files this process served (curated GET /history, ComfyUI door GET /view, v2 door asset content), by door.', labelNames: ['door'], registers });
    this.webhooks = new Counter({ name: name('webhook_deliveries_total'), help: `Webhook delivery attempts by how they ended (${WEBHOOK_OUTCOMES.join(', ')}).`, labelNames: ['outcome'], registers });
    for (const outcome of WEBHOOK_OUTCOMES) this.webhooks.inc({ outcome }, 0);

    const metrics = this;
    new Gauge({
      name: name('dispatcher'),
      help: '1 on the process that dispatches (it alone counts the job lifecycle metrics), else 0.',
      registers,
      collect() {
        this.set(engine.isDispatcher ? 1 : 0);
      },
    });
    new Gauge({
      name: name('queue_depth'),
      help: `Jobs waiting in the bridge for a backend, by priority tier (${PRIORITY_CLASSES.join(', ')}). Dispatching process only.`,
      labelNames: ['priority'],
      registers,
      collect() {
        this.reset();
        if (!engine.isDispatcher) return;
        const depth = new Map(PRIORITY_CLASSES.map((c) => [c, 0]));
        for (const job of engine.jobs()) if (job.state === 'queued') depth.set(priorityClass(job.tier), depth.get(priorityClass(job.tier))! + 1);
        for (const [priority, n] of depth) this.set({ priority }, n);
      },
    });
    new Gauge({
      name: name('backend_up'),
      help: '1 while a backend is reachable (answers probes, event socket connected), as this process sees it; a drained one too.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of engine.backendReadings()) this.set({ backend: backendLabel(b.url) }, b.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: name('backend_draining'),
      help: '1 while an operator has drained a backend: it finishes what it holds and takes nothing new.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of engine.backendReadings()) this.set({ backend: backendLabel(b.url) }, b.draining ? 1 : 0);
      },
    });
    new Gauge({
      name: name('backend_in_flight'),
      help: 'Our jobs on a backend (being sent, queued there, running). Dispatching process only.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        if (!engine.isDispatcher) return;
        for (const b of engine.backendReadings()) this.set({ backend: backendLabel(b.url) }, b.inFlight);
      },
    });
    new Gauge({
      name: name('backend_seconds_per_unit'),
      help: 'Learned speed of a backend: seconds per work unit (a sampler step or a node); absent until it finished a job. Dispatching process only.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        if (!engine.isDispatcher) return;
        for (const b of engine.backendReadings()) if (b.secondsPerUnit !== undefined) this.set({ backend: backendLabel(b.url) }, b.secondsPerUnit);
      },
    });
    new Counter({
      name: name('backend_ws_reconnects_total'),
      help: "Times this process's event socket to a backend registered again after it dropped.",
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of engine.backendReadings()) this.inc({ backend: backendLabel(b.url) }, b.reconnects);
      },
    });
    new Gauge({
      name: name('client_websockets'),
      help: 'Client websockets open on this process, by door.',
      labelNames: ['door'],
      registers,
      collect() {
        this.reset();
        const open = engine.sockets.openByDoor();
        for (const door of new Set([...metrics.doors, ...open.keys()])) this.set({ door }, open.get(door) ?? 0);
      },
    });

    this.unsubscribe = engine.events.subscribe((event) => this.onEvent(event));
  }

  /** The exposition text of every metric, as GET /metrics answers it. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** Count one webhook delivery attempt by how it ended (for the webhook outbox to call). */
  webhookDelivery(outcome: WebhookOutcome): void {
    if (WEBHOOK_OUTCOMES.includes(outcome)) this.webhooks.inc({ outcome });
  }

  /**
   * Koa middleware a door installs first thing: counts the file bytes its uploads bring in and the
   * bytes of the files it streams out (every stream body: /history parts, /view files).
   */
  meter(door: string) {
    this.doors.add(door);
    this.uploadBytes.inc({ door }, 0);
    this.resultBytes.inc({ door }, 0);
    return async (ctx: Context, next: Next) => {
      try {
        await next();
      } finally {
        const bytes = receivedBytes(ctx.req);
        if (bytes > 0) this.uploadBytes.inc({ door }, bytes);
      }
      const body = ctx.body;
      if (!(body instanceof Readable)) return;
      // Counted as the response pipes them out; a listener added any earlier would set the body
      // flowing before Koa pipes it, and its first bytes would be lost.
      ctx.res.once('pipe', (source) => {
        if (source !== body) return;
        source.on('data', (chunk: Buffer | string) => this.resultBytes.inc({ door }, typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length));
      });
    };
  }

  close(): void {
    this.unsubscribe();
  }

  private onEvent(event: EngineEvent): void {
    if (event.kind === 'removed') {
      for (const { jobId } of event.jobs) this.forget(jobId);
      return;
    }
    if (!('jobId' in event)) return;
    // Kept on every process, so a process that takes over dispatching knows the jobs it heard of.
    const counting = this.engine.isDispatcher;
    switch (event.kind) {
      case 'queued':
        this.queuedAt.set(event.jobId, event.at);
        if (counting) this.submitted.inc({ workflow: this.workflowOf(event), door: doorOf(event) });
        return;
      case 'requeued':
        this.queuedAt.set(event.jobId, event.at);
        this.startedAt.set(event.jobId, null);
        if (counting) this.requeues.inc({ reason: requeueKind(event.reason) });
        return;
      case 'started': {
        const since = this.queuedAt.get(event.jobId) ?? this.engine.get(event.jobId)?.createdAt;
        this.queuedAt.delete(event.jobId);
        this.startedAt.set(event.jobId, event.at);
        if (counting && since !== undefined) this.waitSeconds.observe({ workflow: this.workflowOf(event) }, Math.max(0, event.at - since) / 1000);
        return;
      }
      case 'succeeded':
      case 'failed':
      case 'cancelled': {
        const outcome = FINISHED[event.kind];
        const workflow = this.workflowOf(event);
        // A run that began before this process heard of it: the job's own record says when.
        const started = this.startedAt.has(event.jobId) ? this.startedAt.get(event.jobId) : this.engine.get(event.jobId)?.startedAt;
        this.forget(event.jobId);
        if (!counting) return;
        this.finished.inc({ workflow, door: doorOf(event), outcome });
        if (started !== undefined && started !== null) this.runSeconds.observe({ workflow, outcome }, Math.max(0, event.at - started) / 1000);
        return;
      }
    }
  }

  private forget(jobId: string): void {
    this.queuedAt.delete(jobId);
    this.startedAt.delete(jobId);
  }

  private workflowOf(event: JobEvent): string {
    return workflowLabel(this.engine.get(event.jobId)?.workflow, (alias) => this.engine.catalog.get(alias) !== undefined);
  }
}

/** The submitting door (a name the code gives, never a client's). */
function doorOf(event: JobEvent): string {
  return event.door ?? 'none';
}

