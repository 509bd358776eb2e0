// ComfyUI's websocket messages and history entries, read as engine events: the one place that
// knows which ComfyUI message means what for a job. Pure.
import type { BinaryFrame, ComfyMessage, HistoryEntry } from '../comfy/protocol.js';
import { BinaryEvent } from '../comfy/protocol.js';
import type { BackendRecord, FailureDetails, JobEventBody, ProgressSnapshot } from './events.js';

const PREVIEW_FORMAT: Record<number, 'image/jpeg' | 'image/png'> = { 1: 'image/jpeg', 2: 'image/png' };

/** An execution_error for a blocked branch: not a failure, the prompt goes on. */
export function isBlocked(data: Record<string, unknown> | undefined): boolean {
  return data?.exception_type === 'ExecutionBlocked';
}

function nodeId(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

/**
 * The events one message of a job's prompt means. `current` is the job's progress before it,
 * `value` the job's fraction done after it. execution_start is the running hook's (it is also
 * found by polling); the closing messages end the job through its outcome, not here.
 */
export function eventsOfMessage(msg: ComfyMessage, current: ProgressSnapshot | undefined, value: number): JobEventBody[] {
  const d = msg.data ?? {};
  switch (msg.type) {
    case 'execution_start':
    case 'execution_success':
    case 'execution_interrupted':
    case 'status':
      return [];
    case 'execution_error':
      // A blocked branch is not the end: the prompt goes on.
      return isBlocked(d) ? [{ kind: 'notice', type: msg.type, data: d }] : [];
    case 'execution_cached':
      return [{ kind: 'cached', nodes: Array.isArray(d.nodes) ? d.nodes.map(String) : [] }];
    case 'executing': {
      const node = nodeId(d.node);
      // The end of the prompt, or the running node said again (e.g. after a reconnect).
      if (node === undefined || node === current?.node) return [];
      return [withDisplay({ kind: 'progress', progress: { value, node } }, d.display_node, node)];
    }
    case 'progress': {
      const step = Number(d.value);
      const steps = Number(d.max);
      const node = nodeId(d.node) ?? current?.node;
      const progress: ProgressSnapshot = { value, ...(node !== undefined && { node }) };
      if (Number.isFinite(step) && Number.isFinite(steps)) Object.assign(progress, { step, steps });
      return [{ kind: 'progress', progress }];
    }
    case 'executed': {
      const node = nodeId(d.node);
      if (node === undefined) return [];
      return [withDisplay({ kind: 'output', node, output: d.output ?? null }, d.display_node, node)];
    }
    default:
      return [{ kind: 'notice', type: msg.type, data: d }];
  }
}

function withDisplay<T extends JobEventBody & { kind: 'progress' | 'output' }>(body: T, display: unknown, node: string): T {
  const shown = nodeId(display);
  return shown !== undefined && shown !== node ? { ...body, displayNode: shown } : body;
}

/** A binary frame of a job's prompt: a preview image, or another frame passed on as it is. */
export function eventOfFrame(frame: BinaryFrame, node: string | undefined): JobEventBody | undefined {
  const bytes = frame.data;
  if (bytes.length < 4) return undefined;
  if (frame.type === BinaryEvent.PREVIEW_IMAGE) {
    if (bytes.length < 8) return undefined;
    const mime = PREVIEW_FORMAT[bytes.readUInt32BE(4)] ?? 'image/jpeg';
    return { kind: 'preview', ...(node !== undefined && { node }), mime, data: bytes.subarray(8).toString('base64'), frameType: frame.type };
  }
  if (frame.type === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA) {
    if (bytes.length < 8) return undefined;
    const length = bytes.readUInt32BE(4);
    if (8 + length > bytes.length) return undefined;
    let metadata: unknown;
    try {
      metadata = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
    const meta = metadata as Record<string, unknown>;
    const shown = nodeId(meta.node_id) ?? node;
    return {
      kind: 'preview',
      ...(shown !== undefined && { node: shown }),
      mime: meta.image_type === 'image/png' ? 'image/png' : 'image/jpeg',
      data: bytes.subarray(8 + length).toString('base64'),
      frameType: frame.type,
      metadata: meta,
    };
  }
  return { kind: 'frame', frameType: frame.type, data: bytes.subarray(4).toString('base64') };
}

/** What a history entry records, for doors that show it. */
export function recordOf(entry: HistoryEntry | undefined): BackendRecord | undefined {
  if (!entry) return undefined;
  const record: BackendRecord = { outputs: (entry.outputs ?? {}) as Record<string, unknown> };
  if (entry.status) record.status = { status_str: entry.status.status_str, completed: entry.status.completed, messages: entry.status.messages };
  if (entry.meta) record.meta = entry.meta as Record<string, unknown>;
  const targets = entry.prompt?.[4];
  if (Array.isArray(targets) && targets.every((x) => typeof x === 'string')) record.outputsToExecute = targets as string[];
  return record;
}

/** True for the message that ends a prompt (a blocked branch's execution_error does not). */
export function isClosingMessage(type: string, data: Record<string, unknown> | undefined): boolean {
  return (type === 'execution_success' || type === 'execution_error' || type === 'execution_interrupted') && !(type === 'execution_error' && isBlocked(data));
}

/** The details of a failure: from the backend's record, else from the error message seen live. */
export function failureDetails(record: BackendRecord | undefined, live: ComfyMessage | undefined): FailureDetails {
  const recorded = record?.status?.messages.find(([type, data]) => type === 'execution_error' && !isBlocked(data))?.[1];
  const data = recorded ?? (live?.type === 'execution_error' && !isBlocked(live.data) ? live.data : undefined);
  if (!data) return {};
  const { node_id, node_type, exception_type, exception_message, traceback, prompt_id: _id, timestamp: _at, ...extra } = data as Record<string, unknown>;
  const details: FailureDetails = {};
  if (node_id !== undefined) details.node_id = node_id === null ? null : String(node_id);
  if (node_type !== undefined) details.node_type = node_type === null ? null : String(node_type);
  if (typeof exception_type === 'string') details.exception_type = exception_type;
  if (typeof exception_message === 'string') details.exception_message = exception_message;
  if (Array.isArray(traceback)) details.traceback = traceback.map(String);
  if (Object.keys(extra).length) details.extra = extra;
  return details;
}
