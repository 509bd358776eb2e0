// The files a job has made so far, each with the node that made it, the backend that holds it and
// the number of the event that reported it. While the job runs they come from each output node's
// latest result (Job.nodeOutputs); once it succeeded, from what the backend recorded (Job.record),
// which is the whole list. Every view of a job's outputs (the job object, its events, the output
// assets) reads this one list.
import type { Job } from '../jobs/job.js';
import { compareNodeIds } from '../comfy/protocol.js';
import { viewContentType } from '../comfy/mime.js';
import { isPlainObject } from '../workflows/graph.js';
import { outputAssetId } from './asset-ids.js';
import type { OutputFileRef } from './asset-ids.js';

/** The spec's normalised kinds of output. */
export type OutputKind = 'image' | 'video' | 'audio' | 'text' | 'file' | 'latent';

/** The lists of a node's result (ComfyUI's `ui` dict) that name files, and what kind they are. */
const FILE_LISTS: Record<string, OutputKind> = {
  images: 'image',
  gifs: 'video',
  videos: 'video',
  video: 'video',
  animated: 'image',
  audio: 'audio',
  '3d': 'file',
  latents: 'latent',
};

export interface JobOutput {
  /** The asset id of the file (outputAssetId). */
  id: string;
  node: string;
  kind: OutputKind;
  file: OutputFileRef;
  /** The backend that holds the file, when known. */
  backend?: string;
  /** The event number it was reported with: a client that has seen this number has seen it. */
  seq: number;
}

/** Every file reference in one node's result, with its kind. */
function filesOf(ui: unknown): { kind: OutputKind; file: OutputFileRef }[] {
  if (!isPlainObject(ui)) return [];
  const found: { kind: OutputKind; file: OutputFileRef }[] = [];
  for (const [list, kind] of Object.entries(FILE_LISTS)) {
    const items = ui[list];
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      if (!isPlainObject(item) || typeof item.filename !== 'string') continue;
      found.push({
        kind,
        file: {
          filename: item.filename,
          subfolder: typeof item.subfolder === 'string' ? item.subfolder : '',
          type: typeof item.type === 'string' ? item.type : 'output',
        },
      });
    }
  }
  return found;
}

const sameFile = (a: OutputFileRef, b: OutputFileRef) => a.filename === b.filename && a.subfolder === b.subfolder && a.type === b.type;

/** The files the job has made so far, in node order; the same file twice is listed once. */
export function jobOutputs(job: Job): JobOutput[] {
  const reported = new Map((job.nodeOutputs ?? []).map((o) => [o.node, o]));
  // The backend's record is the whole list once the job succeeded; before, the nodes' reports are.
  // A prompt that failed or was interrupted is recorded with what its nodes last showed, which for a
  // node that did not run this time is an earlier prompt's file: only the reports count then.
  const results: [string, unknown][] =
    job.state === 'completed' && job.record ? Object.entries(job.record.outputs) : (job.nodeOutputs ?? []).map((o) => [o.node, o.output]);
  results.sort(([a], [b]) => compareNodeIds(a, b));
  const outputs: JobOutput[] = [];
  const seen = new Set<string>();
  for (const [node, ui] of results) {
    const report = reported.get(node);
    const reportedFiles = report ? filesOf(report.output).map((f) => f.file) : [];
    for (const { kind, file } of filesOf(ui)) {
      const id = outputAssetId(job.id, file);
      if (seen.has(id)) continue;
      seen.add(id);
      // Files held by the backend that ran the final attempt are listed with it in Job.outputs.
      const backend = job.outputs.find((f) => sameFile(f, file))?.backend ?? job.backend;
      // A file reported while the job ran carries that event's number; one only the record names, the last one.
      const seq = report && reportedFiles.some((f) => sameFile(f, file)) ? report.seq : (job.seq ?? 0);
      outputs.push({ id, node, kind, file, ...(backend !== undefined && { backend }), seq });
    }
  }
  // A finished job whose backend record was not kept still lists its files.
  for (const file of job.state === 'completed' ? job.outputs : []) {
    const id = outputAssetId(job.id, file);
    if (seen.has(id)) continue;
    seen.add(id);
    const { backend, ...ref } = file;
    outputs.push({ id, node: '', kind: kindOfType(viewContentType(file.filename)), file: ref, backend, seq: job.seq ?? 0 });
  }
  return outputs;
}

function kindOfType(contentType: string): OutputKind {
  const top = contentType.split('/')[0];
  return top === 'image' || top === 'video' || top === 'audio' ? top : 'file';
}
