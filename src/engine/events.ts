// The engine's one event stream: everything a door shows about a job is rebuilt from these.
// Plain JSON-safe data (no Buffers, no Job objects), so a stream can be stored, sent or replayed.
// `seq` counts per job from 1 and is persisted with the job, so it goes on after a restart.
import { EventEmitter } from 'node:events';

/** How far a job is: `value` 0–1 never goes backwards; the rest says where it is now. */
export interface ProgressSnapshot {
  value: number;
  /** The node running now. */
  node?: string;
  /** Sampler step within that node, and how many there are. */
  step?: number;
  steps?: number;
}

/** ComfyUI's execution_error details, when the backend reported them. */
export interface FailureDetails {
  node_id?: string | null;
  node_type?: string | null;
  exception_type?: string;
  exception_message?: string;
  traceback?: string[];
  /** Further fields of the backend's message (executed, current_inputs, …), as sent. */
  extra?: Record<string, unknown>;
}

/** What the backend recorded about a finished prompt (its /history entry, without the prompt). */
export interface BackendRecord {
  status?: { status_str: string; completed: boolean; messages: [string, Record<string, unknown>][] };
  /** Per output node: ComfyUI's `executed` ui dict. */
  outputs: Record<string, unknown>;
  meta?: Record<string, unknown>;
  /** outputs_to_execute as the backend recorded them. */
  outputsToExecute?: string[];
}

export interface JobEventBase {
  jobId: string;
  seq: number;
  /** ms since the epoch. */
  at: number;
  /** The client that submitted the job: a name inside its tenant's space. */
  clientId: string;
  /** The tenant that owns the job; "" in an open bridge. Doors show a job to its tenant only. */
  tenant: string;
  /** Opaque name of the door that submitted the job; the engine never looks at it. */
  door?: string;
  /** The backend (URL) the event concerns, when there is one. */
  backend?: string;
}

export type JobEventBody =
  | { kind: 'queued' }
  | { kind: 'dispatched'; backend: string; attempt: number }
  | { kind: 'started' }
  | { kind: 'cached'; nodes: string[] }
  /** A node started (no step) or a step of it was done. */
  | { kind: 'progress'; progress: ProgressSnapshot; displayNode?: string }
  | {
      kind: 'preview';
      node?: string;
      mime: 'image/jpeg' | 'image/png';
      /** The image, base64. */
      data: string;
      /** ComfyUI's frame type: 1 PREVIEW_IMAGE or 4 PREVIEW_IMAGE_WITH_METADATA. */
      frameType: number;
      /** A type 4 frame's metadata, as sent. */
      metadata?: Record<string, unknown>;
    }
  /** Another binary frame of the backend (progress text, unencoded preview): type and payload, base64. */
  | { kind: 'frame'; frameType: number; data: string }
  | { kind: 'output'; node: string; displayNode?: string; output: unknown }
  /** A backend message the engine gives no meaning (progress_state, custom nodes' messages). */
  | { kind: 'notice'; type: string; data: Record<string, unknown> }
  | { kind: 'requeued'; reason: string }
  | { kind: 'succeeded'; outputs: { filename: string; subfolder: string; type: string; backend: string }[]; record?: BackendRecord }
  | { kind: 'failed'; error: { message: string } & FailureDetails; record?: BackendRecord }
  | { kind: 'cancelled'; reason: string; record?: BackendRecord };

export type JobEvent = JobEventBase & JobEventBody;

/** A client's finished jobs were delivered: results forgotten on the backends, jobs kept a while. */
export interface CollectedEvent {
  kind: 'collected';
  at: number;
  clientId: string;
  tenant: string;
  jobIds: string[];
}

/** Jobs dropped from the engine (collected long ago, or forgotten by a door). */
export interface RemovedEvent {
  kind: 'removed';
  at: number;
  jobs: { jobId: string; clientId: string; tenant: string; door?: string }[];
}

/** up: takes work; down: does not answer (or its event socket is down); draining: finishes what it has, takes nothing new. */
export type BackendState = 'up' | 'down' | 'draining';

/**
 * A backend became usable for new work, or stopped being so; or joined or left the pool, or
 * started or stopped draining (`reason` `added`, `removed`, `draining`, `resumed`). `backend` is
 * its URL without credentials; `healthy`: it takes new work now.
 */
export interface BackendEvent {
  kind: 'backend';
  at: number;
  backend: string;
  healthy: boolean;
  reason?: string;
  state?: BackendState;
}

/**
 * A client opened a websocket on a door, on this process or another of the cluster: a door that
 * waits to cancel the work of a client whose socket closed stops waiting.
 */
export interface ConnectedEvent {
  kind: 'connected';
  at: number;
  door: string;
  clientId: string;
  tenant: string;
}

export type EngineEvent = JobEvent | CollectedEvent | RemovedEvent | BackendEvent | ConnectedEvent;

export type EngineListener = (event: EngineEvent) => void;

/** One emitter for every event; listeners run in subscription order, synchronously. */
export class EngineEventStream extends EventEmitter<{ event: [EngineEvent] }> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** Hear every event from now on; call the answer to stop. */
  subscribe(listener: EngineListener): () => void {
    this.on('event', listener);
    return () => this.off('event', listener);
  }

  publish(event: EngineEvent): void {
    this.emit('event', event);
  }
}
