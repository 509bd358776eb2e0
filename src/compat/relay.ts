// A prompt's websocket messages, rebuilt from the engine's events for the client that submitted
// it, in ComfyUI's order and shapes (protocol notes §10, §11).
//
// The closing message (execution_success, _error, _interrupted) is sent once the engine says the
// job is final: ComfyUI promises that /history has the entry by then. It is the backend's own
// when it recorded one, otherwise made here (e.g. for a job that failed before any backend ran
// it). Then `status` and the final `executing null`.
//
// A client hears one prompt at a time, in queue order, as from one ComfyUI: its prompts run side
// by side on several backends, and `client-order.ts` decides which may talk now and holds the
// others' messages (previews are rendered for the socket when they go out). `status` is never
// held. Prompts without a client_id broadcast as ComfyUI does and are not ordered.
import type { ClientRef, EngineEvent, JobEvent } from '../engine/index.js';
import { OPERATOR, clientKey, tierRank } from '../engine/index.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import { BinaryEvent } from '../comfy/protocol.js';
import { audienceOf } from './audience.js';
import type { Outgoing, Supersede } from './client-order.js';
import { ClientOrder } from './client-order.js';
import type { ComfyEvent } from './entries.js';
import { closingMessage } from './entries.js';
import type { ComfyDoor } from './door.js';
import { COMFY_DOOR } from './door.js';
import { backendTag, tagNodeOutput } from './file-names.js';
import { toLegacyPreview, toMetadataPreview } from './previews.js';
import type { ClientSockets, Connection } from './sockets.js';
import type { StatusBroadcast } from './status-broadcast.js';

type PreviewEvent = Extract<JobEvent, { kind: 'preview' }>;

/** What the relay remembers about one prompt while it is unfinished. */
interface Tracked {
  /** The node running now, for previews that do not say and for reconnecting clients. */
  node: string | null;
}

/** What goes to a prompt's client, once the client's order lets it. */
type Outbound =
  | { kind: 'json'; message: ComfyEvent }
  /** The message that ends the prompt: preview frames still waiting go out before it. */
  | { kind: 'closing'; message: ComfyEvent }
  | { kind: 'preview'; event: PreviewEvent; node: string | null }
  | { kind: 'frame'; frame: Buffer };

const PREVIEW_FORMAT = { 'image/jpeg': 1, 'image/png': 2 } as const;

/**
 * A prompt final this long without its final event having come here (events lost in a cluster
 * reload) no longer holds up the client's later prompts. In-process the event follows at once.
 */
const MISSED_END_MS = 5000;

/** A held prompt keeps one preview, whichever node made it. */
const LATEST_PREVIEW: Supersede = { slot: 'preview', scope: 'prompt' };

/** Messages a later one of the same kind makes stale (while nothing that must be seen comes between). */
function supersedeOf(message: ComfyEvent): Supersede | undefined {
  if (message.type === 'progress') return { slot: `progress:${String(message.data?.node)}`, scope: 'run' };
  if (message.type === 'progress_state') return { slot: 'progress_state', scope: 'run' };
  return undefined;
}

/** A TEXT frame (progress text) is replaced by the next one of its node. */
function supersedeOfFrame(frameType: number, data: Buffer): Supersede | undefined {
  if (frameType !== BinaryEvent.TEXT || data.length < 4) return undefined;
  const length = data.readUInt32BE(0);
  if (4 + length > data.length) return undefined;
  return { slot: `text:${data.subarray(4, 4 + length).toString('utf8')}`, scope: 'run' };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** The binary frame a preview event was read from, byte for byte. */
export function previewFrame(event: PreviewEvent): Buffer {
  const image = Buffer.from(event.data, 'base64');
  if (event.frameType === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA && event.metadata) {
    const json = Buffer.from(JSON.stringify(event.metadata), 'utf8');
    return Buffer.concat([u32(BinaryEvent.PREVIEW_IMAGE_WITH_METADATA), u32(json.length), json, image]);
  }
  return Buffer.concat([u32(BinaryEvent.PREVIEW_IMAGE), u32(PREVIEW_FORMAT[event.mime]), image]);
}

export class PromptRelay {
  private readonly tracked = new Map<string, Tracked>();
  /**
   * Legacy previews made from a type 4 frame wait for the prompt's next JSON message: ComfyUI
   * sends type 4 before a step's `progress` and type 1 after it.
   */
  private readonly deferred = new Map<string, { conn: Connection; frame: Buffer }[]>();
  private readonly order: ClientOrder<ClientRef, Outbound>;
  private readonly unsubscribe: () => void;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly door: ComfyDoor,
    private readonly sockets: ClientSockets,
    private readonly status: StatusBroadcast,
  ) {
    this.order = new ClientOrder<ClientRef, Outbound>(clientKey, (client) => sockets.get(client) !== undefined);
    // Prompts already in line when the door starts (after a restart, or on a process that joins).
    const open = door.jobs(OPERATOR).filter((j) => !isFinal(j)).sort((a, b) => a.createdAt - b.createdAt);
    for (const job of open) this.admit(job.id, job.tenant ?? '');
    this.unsubscribe = door.engine.events.subscribe((event) => this.onEvent(event));
    this.sweeper = setInterval(() => this.sweepMissedEnds(), MISSED_END_MS);
    this.sweeper.unref();
  }

  close(): void {
    this.unsubscribe();
    clearInterval(this.sweeper);
  }

  /** Prompts whose end never reached the relay stop holding up the ones behind them. */
  private sweepMissedEnds(): void {
    const now = Date.now();
    for (const id of [...this.order.unended()]) {
      const job = this.door.job(id, OPERATOR);
      if (job && !(isFinal(job) && now - (job.finishedAt ?? 0) >= MISSED_END_MS)) continue;
      this.tracked.delete(id);
      this.deferred.delete(id);
      this.out(this.order.forget(id));
    }
  }

  /** A client's socket went: what was held for it is dropped (ComfyUI drops what it misses). */
  clientGone(client: ClientRef): void {
    this.order.disconnected(client);
  }

  /** The node the prompt a client hears now is at (ComfyUI tells a reconnecting client). */
  currentNode(client: ClientRef): string | undefined {
    const id = this.order.head(client);
    if (id === undefined || this.door.job(id, OPERATOR)?.state !== 'running') return undefined;
    return this.tracked.get(id)?.node ?? undefined;
  }

  /**
   * The socket that hears a prompt's events, if it named one: its client_id in the prompt's tenant.
   * The engine's clientId is no answer: a prompt without client_id runs under a made-up one.
   */
  private clientOf({ jobId, tenant }: { jobId: string; tenant: string }): ClientRef | undefined {
    const id = this.door.record(jobId)?.clientId;
    if (id === undefined || id === '') return undefined;
    return { tenant, clientId: id };
  }

  private admit(jobId: string, tenant: string): void {
    const client = this.clientOf({ jobId, tenant });
    const job = this.door.job(jobId, OPERATOR);
    if (client) this.order.admit(client, jobId, job?.priority ?? 0, tierRank(job?.tier));
  }

  private track(jobId: string): Tracked {
    let t = this.tracked.get(jobId);
    if (!t) this.tracked.set(jobId, (t = { node: null }));
    return t;
  }

  private onEvent(event: EngineEvent): void {
    if (event.kind === 'removed') {
      for (const { jobId } of event.jobs) {
        this.tracked.delete(jobId);
        this.deferred.delete(jobId);
        this.out(this.order.forget(jobId));
      }
      return;
    }
    if (!('jobId' in event) || event.door !== COMFY_DOOR) return;
    const promptId = event.jobId;
    switch (event.kind) {
      case 'queued':
        return this.admit(promptId, event.tenant);
      case 'started':
        this.track(promptId).node = null;
        return this.message(event, { type: 'execution_start', data: { prompt_id: promptId, timestamp: event.at } });
      case 'cached':
        return this.message(event, { type: 'execution_cached', data: { nodes: event.nodes, prompt_id: promptId, timestamp: event.at } });
      case 'progress': {
        const { node, step, steps } = event.progress;
        if (step !== undefined) return this.message(event, { type: 'progress', data: { value: step, max: steps, prompt_id: promptId, node: node ?? null } });
        if (node === undefined) return;
        this.track(promptId).node = node;
        return this.message(event, { type: 'executing', data: { node, display_node: event.displayNode ?? node, prompt_id: promptId } });
      }
      case 'output': {
        const output = event.backend ? tagNodeOutput(event.output as Record<string, unknown>, backendTag(event.backend)) : event.output;
        return this.message(event, { type: 'executed', data: { node: event.node, display_node: event.displayNode ?? event.node, output, prompt_id: promptId } });
      }
      case 'notice':
        return this.message(event, { type: event.type, data: event.data });
      case 'preview':
        return this.preview(event);
      case 'frame': {
        // Progress text and custom frames: to the prompt's own client only, never to other tenants.
        const client = this.clientOf(event);
        if (client === undefined) return;
        const data = Buffer.from(event.data, 'base64');
        const item: Outbound = { kind: 'frame', frame: Buffer.concat([u32(event.frameType), data]) };
        return this.out(this.order.send(client, promptId, item, supersedeOfFrame(event.frameType, data)));
      }
      case 'requeued': {
        // Back in the bridge's queue after its backend was lost: the next attempt starts over.
        const t = this.tracked.get(promptId);
        if (t) t.node = null;
        return;
      }
      case 'succeeded':
      case 'failed':
      case 'cancelled':
        return this.final(event);
    }
  }

  private message(event: JobEvent, message: ComfyEvent): void {
    this.track(event.jobId);
    this.status.settle();
    const client = this.clientOf(event);
    if (client) return this.out(this.order.send(client, event.jobId, { kind: 'json', message }, supersedeOf(message)));
    if (audienceOf(message.type, message.data, false) === 'everyone') this.sockets.broadcast(message, event.tenant);
    this.flushDeferred(event.jobId);
  }

  private preview(event: PreviewEvent): void {
    const t = this.track(event.jobId);
    const client = this.clientOf(event);
    if (client) return this.out(this.order.send(client, event.jobId, { kind: 'preview', event, node: t.node }, LATEST_PREVIEW));
    // A prompt without a client broadcasts the legacy layout, whatever the sockets negotiated;
    // it is built once and shared by every socket.
    const frame = previewFrame(event);
    const legacy = event.frameType === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA ? toLegacyPreview(frame) : frame;
    if (!legacy) return;
    for (const conn of this.sockets.connections(event.tenant)) {
      if (legacy === frame) this.sockets.sendBinary(conn, frame);
      else this.defer(event.jobId, conn, legacy);
    }
  }

  /** Write what the client's order lets out. */
  private out(outgoing: Outgoing<ClientRef, Outbound>[]): void {
    for (const o of outgoing) this.write(o);
  }

  private write({ client, promptId, item }: Outgoing<ClientRef, Outbound>): void {
    switch (item.kind) {
      case 'json':
        this.sockets.send(client, item.message);
        return this.flushDeferred(promptId);
      case 'closing':
        this.flushDeferred(promptId);
        return this.sockets.send(client, item.message);
      case 'preview':
        return this.writePreview(client, promptId, item.event, item.node);
      case 'frame': {
        const conn = this.sockets.get(client);
        if (conn) this.sockets.sendBinary(conn, item.frame);
        return;
      }
    }
  }

  /** A preview in the layout the client's socket negotiated. */
  private writePreview(client: ClientRef, promptId: string, event: PreviewEvent, node: string | null): void {
    const conn = this.sockets.get(client);
    if (!conn) return;
    const frame = previewFrame(event);
    const withMetadata = event.frameType === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA;
    if (conn.previewMetadata) {
      const out = withMetadata ? frame : toMetadataPreview(frame, { promptId, node });
      if (out) this.sockets.sendBinary(conn, out);
    } else if (!withMetadata) {
      this.sockets.sendBinary(conn, frame);
    } else {
      const legacy = toLegacyPreview(frame);
      if (legacy) this.defer(promptId, conn, legacy);
    }
  }

  private defer(promptId: string, conn: Connection, frame: Buffer): void {
    let list = this.deferred.get(promptId);
    if (!list) this.deferred.set(promptId, (list = []));
    list.push({ conn, frame });
  }

  private flushDeferred(promptId: string): void {
    const frames = this.deferred.get(promptId);
    if (!frames) return;
    this.deferred.delete(promptId);
    for (const { conn, frame } of frames) this.sockets.sendBinary(conn, frame);
  }

  private final(event: Extract<JobEvent, { kind: 'succeeded' | 'failed' | 'cancelled' }>): void {
    const job: Job | undefined = this.door.job(event.jobId, OPERATOR);
    const t = this.tracked.get(event.jobId);
    this.tracked.delete(event.jobId);
    const client = this.clientOf(event);
    // startedAt is set when the prompt starts, before that is relayed.
    const started = job?.startedAt !== undefined;
    // Deleted from the queue before it ran: ComfyUI says nothing but the new queue length. The
    // client's later prompts need not wait for it.
    if (!job || (event.kind === 'cancelled' && !started)) {
      if (client) this.out(this.order.end(client, event.jobId));
      else this.flushDeferred(event.jobId);
      return;
    }
    const failure = event.kind === 'failed' ? event.error : {};
    const closing = closingMessage(job, this.door.record(job.id), t?.node ?? null, failure);
    if (client === undefined) {
      this.flushDeferred(event.jobId);
      if (audienceOf(closing.type, closing.data, false) === 'everyone') this.sockets.broadcast(closing, event.tenant);
      this.status.now();
      return;
    }
    this.out(this.order.send(client, job.id, { kind: 'closing', message: closing }));
    this.status.now();
    this.out(this.order.end(client, job.id, [{ kind: 'json', message: { type: 'executing', data: { node: null, prompt_id: job.id } } }]));
  }
}
