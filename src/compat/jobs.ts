// The shapes of ComfyUI's newer jobs API (GET /api/jobs, GET /api/jobs/{id}): one job record for
// queued, running and finished prompts alike, built here from this door's queue items and history
// entries, and the list's query (status filter, sort, limit/offset) read and applied as ComfyUI's
// server does. Pure.
import type { HistoryEntryView, QueueItem } from './entries.js';
import { isPlainObject } from '../workflows/graph.js';
import { tagSubfolder } from './file-names.js';

export const JOB_STATUSES = ['pending', 'in_progress', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job as the list shows it; the detail adds outputs, execution_status and workflow. Absent fields are left out, as ComfyUI prunes its nulls. */
export interface JobView {
  id: string;
  status: JobStatus;
  /** The queue number. */
  priority: number;
  create_time?: number;
  execution_start_time?: number;
  execution_end_time?: number;
  execution_error?: Record<string, unknown>;
  outputs_count: number;
  previewable_outputs_count: number;
  preview_output?: Record<string, unknown>;
  workflow_id?: string;
  outputs?: Record<string, unknown>;
  execution_status?: HistoryEntryView['status'];
  workflow?: { prompt: Record<string, unknown>; extra_data: Record<string, unknown> };
}

const PREVIEWABLE_MEDIA = new Set(['images', 'video', 'audio', '3d', 'text']);
const THREE_D = ['.obj', '.fbx', '.gltf', '.glb', '.usdz'];
const TEXT_FILES = ['.txt', '.md', '.json'];
/** A text output shown as a preview is cut here. */
const TEXT_PREVIEW_CHARS = 1024;

const endsWithAny = (name: string, exts: readonly string[]) => exts.some((ext) => name.toLowerCase().endsWith(ext));
const fileNameOf = (item: Record<string, unknown>) => (typeof item.filename === 'string' ? item.filename : '');

function workflowIdOf(extra: Record<string, unknown>): string | undefined {
  const info = extra.extra_pnginfo;
  const workflow = isPlainObject(info) ? info.workflow : undefined;
  const id = isPlainObject(workflow) ? workflow.id : undefined;
  return typeof id === 'string' ? id : undefined;
}

/**
 * A list item that is not a file reference: a 3D file named by a bare string becomes one (under
 * the backend's tag, so /view finds it); anything else is not a file.
 */
function asFile(item: unknown, tag: string | undefined): Record<string, unknown> | undefined {
  if (isPlainObject(item)) return item;
  if (typeof item === 'string' && endsWithAny(item, THREE_D)) {
    return { filename: item, type: 'output', subfolder: tag === undefined ? '' : tagSubfolder('', tag), mediaType: '3d' };
  }
  return undefined;
}

function isPreviewable(media: string, item: Record<string, unknown>): boolean {
  if (PREVIEWABLE_MEDIA.has(media)) return true;
  const format = typeof item.format === 'string' ? item.format : '';
  if (format.startsWith('video/') || format.startsWith('audio/')) return true;
  const name = fileNameOf(item);
  return endsWithAny(name, THREE_D) || endsWithAny(name, TEXT_FILES);
}

function isTextPreview(media: string, item: Record<string, unknown>): boolean {
  return media === 'text' || endsWithAny(fileNameOf(item), TEXT_FILES);
}

/** Every list of every node's output, but the `animated` flag. */
function* outputLists(outputs: Record<string, unknown>): Generator<[node: string, media: string, items: unknown[]]> {
  for (const [node, output] of Object.entries(outputs)) {
    if (!isPlainObject(output)) continue;
    for (const [media, items] of Object.entries(output)) if (media !== 'animated' && Array.isArray(items)) yield [node, media, items];
  }
}

/**
 * How many output files, how many of them previewable, and the one to show: a saved visual
 * output first, then any other visual one, then a saved text file, then raw text (which is not
 * counted as an output).
 */
export function outputsSummary(outputs: Record<string, unknown>, tag?: string): { count: number; previewable: number; preview?: Record<string, unknown> } {
  let count = 0;
  let previewable = 0;
  let saved: Record<string, unknown> | undefined;
  let visual: Record<string, unknown> | undefined;
  let textFile: Record<string, unknown> | undefined;
  let text: Record<string, unknown> | undefined;
  for (const [node, media, items] of outputLists(outputs)) {
    for (const raw of items) {
      const item = asFile(raw, tag);
      if (!item) {
        if (media === 'text' && raw !== null && raw !== undefined && text === undefined) {
          const value = typeof raw === 'string' ? raw : Array.isArray(raw) ? String(raw[0] ?? '') : JSON.stringify(raw);
          text = { content: value.slice(0, TEXT_PREVIEW_CHARS), ...(value.length > TEXT_PREVIEW_CHARS && { truncated: true }), nodeId: node, mediaType: media };
        }
        continue;
      }
      count++;
      if (!isPreviewable(media, item)) continue;
      previewable++;
      if (saved) continue;
      const shown = { ...item, nodeId: node, ...(!('mediaType' in item) && { mediaType: media }) };
      if (isTextPreview(media, item)) textFile ??= shown;
      else if (item.type === 'output') saved = shown;
      else visual ??= shown;
    }
  }
  const preview = saved ?? visual ?? textFile ?? text;
  return { count, previewable, ...(preview && { preview }) };
}

/** The detail's outputs: empty items dropped, bare 3D file names made file references. */
export function jobOutputs(outputs: Record<string, unknown>, tag?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [node, output] of Object.entries(outputs)) {
    if (!isPlainObject(output)) {
      out[node] = output;
      continue;
    }
    const lists: Record<string, unknown> = {};
    for (const [media, items] of Object.entries(output)) {
      lists[media] = media === 'animated' || !Array.isArray(items) ? items : items.filter((i) => i !== null && i !== undefined).map((i) => (typeof i === 'string' ? (asFile(i, tag) ?? i) : i));
    }
    out[node] = lists;
  }
  return out;
}

/** A pending or running prompt. */
export function queuedJob(item: QueueItem, status: 'pending' | 'in_progress', createTime: number, detail = false): JobView {
  const [number, id, prompt, extra] = item;
  const workflowId = workflowIdOf(extra);
  return {
    id,
    status,
    priority: number,
    create_time: createTime,
    outputs_count: 0,
    previewable_outputs_count: 0,
    ...(workflowId !== undefined && { workflow_id: workflowId }),
    ...(detail && { workflow: { prompt, extra_data: extra } }),
  };
}

/** A finished prompt, from its history entry; `started`/`ended` stand in for messages it lacks. */
export function finishedJob(
  id: string,
  entry: HistoryEntryView,
  times: { created: number; started?: number; ended?: number },
  tag: string | undefined,
  detail = false,
): JobView {
  const [number, , prompt, extra] = entry.prompt;
  let started: number | undefined;
  let ended: number | undefined;
  let error: Record<string, unknown> | undefined;
  let interrupted = false;
  for (const message of entry.status.messages) {
    if (!Array.isArray(message) || !isPlainObject(message[1])) continue;
    const [type, data] = message;
    const at = typeof data.timestamp === 'number' ? data.timestamp : undefined;
    if (type === 'execution_start') started = at;
    else if (type === 'execution_success' || type === 'execution_error' || type === 'execution_interrupted') {
      ended = at;
      if (type === 'execution_error') error = data;
      if (type === 'execution_interrupted') interrupted = true;
    }
  }
  started ??= times.started;
  ended ??= times.ended;
  const status: JobStatus = entry.status.status_str === 'success' ? 'completed' : interrupted ? 'cancelled' : 'failed';
  const summary = outputsSummary(entry.outputs, tag);
  const workflowId = workflowIdOf(extra);
  return {
    id,
    status,
    priority: number,
    create_time: times.created,
    ...(started !== undefined && { execution_start_time: started }),
    ...(ended !== undefined && { execution_end_time: ended }),
    ...(error && { execution_error: error }),
    outputs_count: summary.count,
    previewable_outputs_count: summary.previewable,
    ...(summary.preview && { preview_output: summary.preview }),
    ...(workflowId !== undefined && { workflow_id: workflowId }),
    ...(detail && { outputs: jobOutputs(entry.outputs, tag), execution_status: entry.status, workflow: { prompt, extra_data: extra } }),
  };
}

export interface JobsQuery {
  /** Only these statuses; undefined: all. */
  statuses?: JobStatus[];
  workflowId?: string;
  sortBy: 'created_at' | 'execution_duration';
  sortOrder: 'asc' | 'desc';
  limit?: number;
  offset: number;
}

export type JobsQueryResult = { ok: true; query: JobsQuery } | { ok: false; error: string };

/** Python's int() of a query string: surrounding spaces, a sign, digits (with single underscores between them). */
function pyInt(value: string): number | undefined {
  return /^\s*[-+]?\d+(_\d+)*\s*$/.test(value) ? Number(value.trim().replaceAll('_', '')) : undefined;
}

/** GET /api/jobs's query parameters, with ComfyUI's defaults and its 400 reasons. */
export function readJobsQuery(get: (name: string) => string | undefined): JobsQueryResult {
  let statuses: JobStatus[] | undefined;
  const status = get('status');
  if (status) {
    const asked = status.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    const invalid = asked.filter((s) => !(JOB_STATUSES as readonly string[]).includes(s));
    if (invalid.length > 0) return { ok: false, error: `Invalid status value(s): ${invalid.join(', ')}. Valid values: ${JOB_STATUSES.join(', ')}` };
    statuses = asked as JobStatus[];
  }
  const sortBy = (get('sort_by') ?? 'created_at').toLowerCase();
  if (sortBy !== 'created_at' && sortBy !== 'execution_duration') return { ok: false, error: "sort_by must be 'created_at' or 'execution_duration'" };
  const sortOrder = (get('sort_order') ?? 'desc').toLowerCase();
  if (sortOrder !== 'asc' && sortOrder !== 'desc') return { ok: false, error: "sort_order must be 'asc' or 'desc'" };
  let limit: number | undefined;
  const rawLimit = get('limit');
  if (rawLimit !== undefined) {
    limit = pyInt(rawLimit);
    if (limit === undefined) return { ok: false, error: 'limit must be an integer' };
    if (limit <= 0) return { ok: false, error: 'limit must be a positive integer' };
  }
  let offset = 0;
  const rawOffset = get('offset');
  if (rawOffset !== undefined) {
    const n = pyInt(rawOffset);
    if (n === undefined) return { ok: false, error: 'offset must be an integer' };
    offset = Math.max(0, n);
  }
  const workflowId = get('workflow_id');
  return { ok: true, query: { ...(statuses && { statuses }), ...(workflowId && { workflowId }), sortBy, sortOrder, ...(limit !== undefined && { limit }), offset } };
}

export interface JobsPage {
  jobs: JobView[];
  pagination: { offset: number; limit: number | null; total: number; has_more: boolean };
}

function durationOf(job: JobView): number {
  const { execution_start_time: start, execution_end_time: end } = job;
  return start && end ? end - start : 0;
}

/**
 * Filter, sort and page jobs given running first, then pending in run order, then finished in
 * history order: the sort is stable, so that order decides among equal keys, as in ComfyUI.
 */
export function jobsPage(jobs: readonly JobView[], query: JobsQuery): JobsPage {
  let chosen = jobs.filter((j) => (query.statuses === undefined || query.statuses.includes(j.status)) && (query.workflowId === undefined || j.workflow_id === query.workflowId));
  const key = query.sortBy === 'execution_duration' ? durationOf : (j: JobView) => j.create_time ?? 0;
  const sign = query.sortOrder === 'desc' ? -1 : 1;
  chosen = chosen.map((job) => ({ job, k: key(job) })).sort((a, b) => sign * (a.k - b.k)).map(({ job }) => job);
  const total = chosen.length;
  const page = chosen.slice(query.offset, query.limit === undefined ? undefined : query.offset + query.limit);
  return { jobs: page, pagination: { offset: query.offset, limit: query.limit ?? null, total, has_more: query.offset + page.length < total } };
}
