// A prompt's websocket messages, rebuilt from the engine's events for the client that submitted
// it, in ComfyUI's order and shapes (protocol notes §10, §11).
//
// The closing message (execution_success, _error, _interrupted) is sent once the engine says the
// job is final: ComfyUI promises that /history has the entry by then. It is the backend's own
// when it recorded one, otherwise made here (e.g. for a job that failed before any backend ran
// it). Then `status` and the final `executing null`.
import type { ClientRef, EngineEvent, JobEvent } from '../engine/index.js';
import { OPERATOR, clientKey } from '../engine/index.js';
import type { Job } from '../jobs/job.js';
import { BinaryEvent } from '../comfy/protocol.js';
import { audienceOf, previewAudience } from './audience.js';
import type { ComfyEvent } from './entries.js';
import { closingMessage } from './entries.js';
import type { ComfyDoor } from './door.js';
import { COMFY_DOOR } from './door.js';
import { backendTag, tagNodeOutput } from './file-names.js';
import { toLegacyPreview, toMetadataPreview } from './previews.js';
import type { ClientSockets, Connection } from './sockets.js';
import type { StatusBroadcast } from './status-broadcast.js';

/** What the relay remembers about one prompt while it is unfinished. */
interface Tracked {
  /** The node running now, for previews that do not say and for reconnecting clients. */
  node: string | null;
  /**
   * Legacy previews made from a type 4 frame wait for the next JSON message: ComfyUI sends
   * type 4 before a step's `progress` and type 1 after it.
   */
  deferred: { conn: Connection; frame: Buffer }[];
}

const PREVIEW_FORMAT = { 'image/jpeg': 1, 'image/png': 2 } as const;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** The binary frame a preview event was read from, byte for byte. */
export function previewFrame(event: Extract<JobEvent, { kind: 'preview' }>): Buffer {
  const image = Buffer.from(event.data, 'base64');
  if (event.frameType === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA && event.metadata) {
    const json = Buffer.from(JSON.stringify(event.metadata), 'utf8');
    return Buffer.concat([u32(BinaryEvent.PREVIEW_IMAGE_WITH_METADATA), u32(json.length), json, image]);
  }
  return Buffer.concat([u32(BinaryEvent.PREVIEW_IMAGE), u32(PREVIEW_FORMAT[event.mime]), image]);
}

export class PromptRelay {
  private readonly tracked = new Map<string, Tracked>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly door: ComfyDoor,
    private readonly sockets: ClientSockets,
    private readonly status: StatusBroadcast,
  ) {
    this.unsubscribe = door.engine.events.subscribe((event) => this.onEvent(event));
  }

  close(): void {
    this.unsubscribe();
  }

  /** The node a client's running prompt is at (ComfyUI tells a reconnecting client). */
  currentNode(client: ClientRef): string | undefined {
    for (const [id, t] of this.tracked) {
      const job = this.door.job(id, OPERATOR);
      if (!job || job.state !== 'running' || t.node === null) continue;
      const of = this.clientOf({ jobId: id, tenant: job.tenant ?? '' });
      if (of && clientKey(of) === clientKey(client)) return t.node;
    }
    return undefined;
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

  private track(jobId: string): Tracked {
    let t = this.tracked.get(jobId);
    if (!t) this.tracked.set(jobId, (t = { node: null, deferred: [] }));
    return t;
  }

  private onEvent(event: EngineEvent): void {
    if (event.kind === 'removed') {
      for (const { jobId } of event.jobs) this.tracked.delete(jobId);
      return;
    }
    if (!('jobId' in event) || event.door !== COMFY_DOOR) return;
    const promptId = event.jobId;
    switch (event.kind) {
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
        const conn = client === undefined ? undefined : this.sockets.get(client);
        if (conn) this.sockets.sendBinary(conn, Buffer.concat([u32(event.frameType), Buffer.from(event.data, 'base64')]));
        return;
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
    const t = this.track(event.jobId);
    this.status.settle();
    this.deliver(event.tenant, this.clientOf(event), message);
    this.flushDeferred(t);
  }

  private deliver(tenant: string, client: ClientRef | undefined, event: ComfyEvent): void {
    switch (audienceOf(event.type, event.data, client !== undefined)) {
      case 'client':
        this.sockets.send(client!, event);
        break;
      case 'everyone':
        this.sockets.broadcast(event, tenant);
        break;
    }
  }

  private preview(event: Extract<JobEvent, { kind: 'preview' }>): void {
    const t = this.track(event.jobId);
    const client = this.clientOf(event);
    const frame = previewFrame(event);
    const withMetadata = event.frameType === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA;
    const targets =
      previewAudience(client !== undefined) === 'client'
        ? [this.sockets.get(client!)].filter((c): c is Connection => c !== undefined)
        : [...this.sockets.connections(event.tenant)];
    // Each layout is built at most once per frame and shared by every socket that wants it.
    let withMeta: Buffer | undefined | null = null;
    let legacy: Buffer | undefined | null = null;
    for (const conn of targets) {
      // A prompt without a client broadcasts the legacy layout, whatever the sockets negotiated.
      if (client !== undefined && conn.previewMetadata) {
        if (withMeta === null) withMeta = withMetadata ? frame : toMetadataPreview(frame, { promptId: event.jobId, node: t.node });
        if (withMeta) this.sockets.sendBinary(conn, withMeta);
      } else if (!withMetadata) {
        this.sockets.sendBinary(conn, frame);
      } else {
        if (legacy === null) legacy = toLegacyPreview(frame);
        if (legacy) t.deferred.push({ conn, frame: legacy });
      }
    }
  }

  private flushDeferred(t: Tracked): void {
    if (t.deferred.length === 0) return;
    const frames = t.deferred;
    t.deferred = [];
    for (const { conn, frame } of frames) this.sockets.sendBinary(conn, frame);
  }

  private final(event: Extract<JobEvent, { kind: 'succeeded' | 'failed' | 'cancelled' }>): void {
    const job: Job | undefined = this.door.job(event.jobId, OPERATOR);
    const t = this.tracked.get(event.jobId);
    this.tracked.delete(event.jobId);
    if (t) this.flushDeferred(t);
    if (!job) return;
    // startedAt is set when the prompt starts, before that is relayed.
    const started = job.startedAt !== undefined;
    // Deleted from the queue before it ran: ComfyUI says nothing but the new queue length.
    if (event.kind === 'cancelled' && !started) return;
    const failure = event.kind === 'failed' ? event.error : {};
    const client = this.clientOf(event);
    this.deliver(event.tenant, client, closingMessage(job, this.door.record(job.id), t?.node ?? null, failure));
    this.status.now();
    if (client !== undefined) this.sockets.send(client, { type: 'executing', data: { node: null, prompt_id: job.id } });
  }
}
