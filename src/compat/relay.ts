// A prompt's websocket messages, relayed from whichever backend runs it to the client that
// submitted it, in ComfyUI's order and shapes (protocol notes §10, §11).
//
// The backend's own final `executing {node: null}` is not relayed: it reaches the bridge before
// the engine has read the backend's history, and ComfyUI promises that /history has the entry by
// the time it arrives. The door sends `status` and then `executing null` itself once the store
// says the job is final, after the message that closed it (relayed, or made here for a job that
// ended without one, e.g. one that failed before any backend ran it).
import type { Bridge } from '../bridge.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import type { JobState } from '../jobs/job.js';
import type { BinaryFrame, ComfyMessage } from '../comfy/protocol.js';
import { BinaryEvent } from '../comfy/protocol.js';
import { audienceOf, previewAudience } from './audience.js';
import type { ComfyEvent } from './entries.js';
import { closingMessage, isClosing } from './entries.js';
import { backendTag, tagNodeOutput } from './file-names.js';
import { toLegacyPreview, toMetadataPreview } from './previews.js';
import type { ClientSockets, Connection } from './sockets.js';
import type { StatusBroadcast } from './status-broadcast.js';

/** What the relay remembers about one prompt while it is unfinished. */
interface Tracked {
  /** The closing message of the current attempt was relayed. */
  closed: boolean;
  /** The node running now, for previews that do not say and for reconnecting clients. */
  node: string | null;
  /**
   * Legacy previews made from a type 4 frame wait for the next JSON message: ComfyUI sends
   * type 4 before a step's `progress` and type 1 after it.
   */
  deferred: { conn: Connection; frame: Buffer }[];
}

/** The socket id that hears a prompt's events, if it named one. */
export function clientOf(job: Job): string | undefined {
  const id = job.extraData?.client_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export class PromptRelay {
  private readonly tracked = new Map<string, Tracked>();
  private readonly onState = (job: Job, previous: JobState | undefined) => this.state(job, previous);
  private readonly onRemoved = (job: Job) => this.tracked.delete(job.id);

  constructor(
    private readonly bridge: Bridge,
    private readonly sockets: ClientSockets,
    private readonly status: StatusBroadcast,
  ) {
    bridge.scheduler.observer = {
      message: (job, msg) => this.message(job, msg),
      preview: (job, frame) => this.preview(job, frame),
    };
    bridge.store.on('state', this.onState);
    bridge.store.on('removed', this.onRemoved);
  }

  close(): void {
    this.bridge.scheduler.observer = {};
    this.bridge.store.off('state', this.onState);
    this.bridge.store.off('removed', this.onRemoved);
  }

  /** The node a client's running prompt is at (ComfyUI tells a reconnecting client). */
  currentNode(sid: string): string | undefined {
    for (const [id, t] of this.tracked) {
      const job = this.bridge.store.get(id);
      if (job && job.state === 'running' && t.node !== null && clientOf(job) === sid) return t.node;
    }
    return undefined;
  }

  private track(job: Job): Tracked {
    let t = this.tracked.get(job.id);
    if (!t) this.tracked.set(job.id, (t = { closed: false, node: null, deferred: [] }));
    return t;
  }

  private message(job: Job, msg: ComfyMessage): void {
    if (job.source !== 'comfy') return;
    const t = this.track(job);
    const data = msg.data ?? {};
    let event: ComfyEvent = { type: msg.type, data };
    switch (msg.type) {
      case 'executing':
        if (data.node === null || data.node === undefined) return;
        t.node = String(data.node);
        break;
      case 'execution_start':
        t.closed = false;
        break;
      case 'executed':
        if (job.backend) event = { type: msg.type, data: { ...data, output: tagNodeOutput(data.output, backendTag(job.backend)) } };
        break;
    }
    if (isClosing(msg.type, data)) t.closed = true;
    this.status.settle();
    this.deliver(job, event);
    this.flushDeferred(t);
  }

  private deliver(job: Job, event: ComfyEvent): void {
    const sid = clientOf(job);
    switch (audienceOf(event.type, event.data, sid !== undefined)) {
      case 'client':
        this.sockets.send(sid!, event);
        break;
      case 'everyone':
        this.sockets.broadcast(event);
        break;
    }
  }

  private preview(job: Job, frame: BinaryFrame): void {
    if (job.source !== 'comfy') return;
    const t = this.track(job);
    const sid = clientOf(job);
    const isPreview = frame.type === BinaryEvent.PREVIEW_IMAGE || frame.type === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA;
    if (!isPreview) {
      // Progress text and custom frames: to the prompt's own client only, never to other tenants.
      const conn = sid === undefined ? undefined : this.sockets.get(sid);
      if (conn) this.sockets.sendBinary(conn, frame.data);
      return;
    }
    const targets = previewAudience(sid !== undefined) === 'client' ? [this.sockets.get(sid!)].filter((c): c is Connection => c !== undefined) : [...this.sockets.connections()];
    // Each layout is built at most once per frame and shared by every socket that wants it.
    let withMeta: Buffer | undefined | null = null;
    let legacy: Buffer | undefined | null = null;
    for (const conn of targets) {
      // A prompt without a client broadcasts the legacy layout, whatever the sockets negotiated.
      if (sid !== undefined && conn.previewMetadata) {
        if (withMeta === null) {
          withMeta = frame.type === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA ? frame.data : toMetadataPreview(frame.data, { promptId: job.id, node: t.node });
        }
        if (withMeta) this.sockets.sendBinary(conn, withMeta);
      } else if (frame.type === BinaryEvent.PREVIEW_IMAGE) {
        this.sockets.sendBinary(conn, frame.data);
      } else {
        if (legacy === null) legacy = toLegacyPreview(frame.data);
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

  private state(job: Job, previous: JobState | undefined): void {
    if (job.source !== 'comfy') return;
    const t = this.tracked.get(job.id);
    // Back in the bridge's queue after its backend was lost: the next attempt starts over.
    if (job.state === 'queued' && previous !== undefined && previous !== 'queued' && t) {
      t.closed = false;
      t.node = null;
    }
    if (!isFinal(job)) return;
    this.tracked.delete(job.id);
    if (t) this.flushDeferred(t);
    // startedAt is set when execution_start arrives, before it is relayed.
    const started = job.startedAt !== undefined;
    // Deleted from the queue before it ran: ComfyUI says nothing but the new queue length.
    if (job.state === 'cancelled' && !started) return;
    if (!t?.closed) this.deliver(job, closingMessage(job, t?.node ?? null));
    this.status.now();
    const sid = clientOf(job);
    if (sid !== undefined) this.sockets.send(sid, { type: 'executing', data: { node: null, prompt_id: job.id } });
  }
}
