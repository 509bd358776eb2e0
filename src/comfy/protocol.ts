// ComfyUI's wire shapes, as far as the bridge reads them, and pure helpers over them.
// See the protocol notes (comfyui-protocol.md) for where each shape comes from.

/** An API-format graph: node id → node. */
export type ComfyPrompt = Record<string, ComfyNode>;
export interface ComfyNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Where an output file lives on the backend that made it. */
export interface FileRef {
  filename: string;
  subfolder: string;
  type: string;
}

export interface NodeErrorReason {
  type: string;
  message: string;
  details?: string;
  extra_info?: { input_name?: string; [key: string]: unknown };
}
export interface NodeError {
  class_type?: string;
  dependent_outputs?: string[];
  errors: NodeErrorReason[];
}
export type NodeErrors = Record<string, NodeError>;

export interface PromptError {
  type: string;
  message: string;
  details?: string;
  extra_info?: Record<string, unknown>;
}

export interface HistoryEntry {
  prompt?: unknown[];
  outputs: Record<string, Record<string, unknown> | null>;
  status?: { status_str: string; completed: boolean; messages: [string, Record<string, unknown>][] };
  meta?: Record<string, unknown>;
}

export interface ComfyMessage {
  type: string;
  data: Record<string, any>;
}

/** Output keys whose entries are files (core nodes and common video/audio nodes). */
const FILE_KEYS = ['images', 'gifs', 'videos', 'video', 'audio', 'animated', '3d'];

/** Every file an entry's outputs name, in node-id order, skipping anything that is not a file reference. */
export function outputFiles(outputs: HistoryEntry['outputs']): FileRef[] {
  const files: FileRef[] = [];
  const ids = Object.keys(outputs).sort(compareNodeIds);
  for (const id of ids) {
    const ui = outputs[id];
    if (!ui || typeof ui !== 'object') continue;
    for (const key of FILE_KEYS) {
      const list = ui[key];
      if (!Array.isArray(list)) continue;
      for (const item of list) {
        if (item && typeof item === 'object' && typeof item.filename === 'string') {
          files.push({
            filename: item.filename,
            subfolder: typeof item.subfolder === 'string' ? item.subfolder : '',
            type: typeof item.type === 'string' ? item.type : 'output',
          });
        }
      }
    }
  }
  return files;
}

/** Numeric ids in numeric order, then the rest by string order (a total order). */
export function compareNodeIds(a: string, b: string): number {
  const na = a.trim() === '' ? NaN : Number(a);
  const nb = b.trim() === '' ? NaN : Number(b);
  const aNum = Number.isFinite(na);
  const bNum = Number.isFinite(nb);
  if (aNum && bNum && na !== nb) return na - nb;
  if (aNum !== bNum) return aNum ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One line a person can act on, from ComfyUI's 400 body for POST /prompt. */
export function describeRejection(error: PromptError | string | undefined, nodeErrors: NodeErrors | unknown[] | undefined, prompt?: ComfyPrompt): string {
  const head = typeof error === 'string' ? error : error?.message ?? 'prompt rejected';
  const lines: string[] = [];
  if (nodeErrors && !Array.isArray(nodeErrors)) {
    for (const [id, ne] of Object.entries(nodeErrors)) {
      const title = prompt?.[id]?._meta?.title;
      const where = `node ${id} (${title ?? ne.class_type ?? prompt?.[id]?.class_type ?? 'unknown'})`;
      for (const reason of ne.errors ?? []) {
        const input = reason.extra_info?.input_name;
        const details = reason.details && reason.details !== input ? ` (${reason.details})` : '';
        lines.push(`${where}${input ? ` input "${input}"` : ''}: ${reason.message}${details}`);
      }
    }
  }
  const details = typeof error === 'object' && error?.details ? ` ${error.details}` : '';
  return lines.length ? `${head}: ${lines.join('; ')}` : `${head}${details}`.trim();
}

/** What went wrong in an execution_error message, in one line. */
export function describeExecutionError(data: Record<string, any>): string {
  const node = data.node_id !== undefined ? `node ${data.node_id}${data.node_type ? ` (${data.node_type})` : ''}` : 'a node';
  const what = [data.exception_type, data.exception_message].filter(Boolean).join(': ');
  return `${node} failed: ${what || 'unknown error'}`.trim();
}

/** Binary websocket frames: the first 4 bytes (big-endian) are the event type. */
export const BinaryEvent = { PREVIEW_IMAGE: 1, UNENCODED_PREVIEW_IMAGE: 2, TEXT: 3, PREVIEW_IMAGE_WITH_METADATA: 4 } as const;

export interface BinaryFrame {
  type: number;
  /** prompt_id for PREVIEW_IMAGE_WITH_METADATA frames; undefined for the others. */
  promptId?: string;
  data: Buffer;
}

export function parseBinaryFrame(buf: Buffer): BinaryFrame | undefined {
  if (buf.length < 4) return undefined;
  const type = buf.readUInt32BE(0);
  if (type === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA && buf.length >= 8) {
    const len = buf.readUInt32BE(4);
    if (8 + len > buf.length) return { type, data: buf };
    try {
      const meta = JSON.parse(buf.subarray(8, 8 + len).toString('utf8'));
      return { type, promptId: typeof meta?.prompt_id === 'string' ? meta.prompt_id : undefined, data: buf };
    } catch {
      return { type, data: buf };
    }
  }
  return { type, data: buf };
}
