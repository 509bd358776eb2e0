// Every output file of the door's jobs is an asset, whose id is derived from the job and the file
// (asset-ids.ts). This index answers "which job's file is this id?" in O(1): it is filled from the
// jobs held at start, then kept current by the engine's events — an `output` while a job runs, the
// backend's record when it ends, and dropped on `removed` (the job swept or forgotten). Every
// process of a cluster hears every event, so each holds the same index.
import type { BackendRecord, Engine, EngineEvent } from '../engine/index.js';
import type { Job, OutputFile } from '../jobs/job.js';
import { isPlainObject } from '../workflows/graph.js';
import { outputAssetId } from './asset-ids.js';
import type { OutputFileRef } from './asset-ids.js';

/** One output file of a job, as an asset. */
export interface OutputAsset {
  id: string;
  jobId: string;
  /** The file and the backend that holds it (names are only unique per backend). */
  file: OutputFile;
  /** When it was reported (ms). */
  at: number;
  /** Its size and type, once the backend was asked. */
  size?: number;
  contentType?: string;
}

/**
 * Every file a node's result (ComfyUI's `ui` dict) names, under any key: images, videos, audio,
 * latents, or a custom node's own list. A superset of what any view lists is harmless here, since
 * an id only ever leads to a file of the caller's own job.
 */
function filesIn(ui: unknown): OutputFileRef[] {
  if (!isPlainObject(ui)) return [];
  const files: OutputFileRef[] = [];
  for (const list of Object.values(ui)) {
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isPlainObject(item) || typeof item.filename !== 'string') continue;
      files.push({ filename: item.filename, subfolder: typeof item.subfolder === 'string' ? item.subfolder : '', type: typeof item.type === 'string' ? item.type : 'output' });
    }
  }
  return files;
}

export class OutputIndex {
  private readonly byId = new Map<string, OutputAsset>();
  private readonly byJob = new Map<string, Set<string>>();
  private readonly unsubscribe: () => void;

  constructor(
    engine: Engine,
    private readonly door: string,
  ) {
    for (const job of engine.jobs(door)) this.addJob(job);
    this.unsubscribe = engine.events.subscribe((event) => this.hear(event));
  }

  get(id: string): OutputAsset | undefined {
    return this.byId.get(id);
  }

  close(): void {
    this.unsubscribe();
  }

  private addJob(job: Job): void {
    const at = job.finishedAt ?? job.startedAt ?? job.createdAt;
    if (job.backend !== undefined) {
      for (const reported of job.nodeOutputs ?? []) this.addAll(job.id, filesIn(reported.output), job.backend, at);
      this.addRecord(job.id, job.record, job.backend, at);
    }
    for (const file of job.outputs) this.add(job.id, file, at);
  }

  private addRecord(jobId: string, record: BackendRecord | undefined, backend: string, at: number): void {
    for (const ui of Object.values(record?.outputs ?? {})) this.addAll(jobId, filesIn(ui), backend, at);
  }

  private addAll(jobId: string, files: OutputFileRef[], backend: string, at: number): void {
    for (const file of files) this.add(jobId, { ...file, backend }, at);
  }

  private hear(event: EngineEvent): void {
    if (event.kind === 'removed') {
      for (const { jobId } of event.jobs) this.drop(jobId);
      return;
    }
    if (!('jobId' in event) || event.door !== this.door || event.backend === undefined) return;
    if (event.kind === 'output') this.addAll(event.jobId, filesIn(event.output), event.backend, event.at);
    else if (event.kind === 'succeeded' || event.kind === 'failed' || event.kind === 'cancelled') {
      // The backend's record is the whole list (a failed or cancelled job may have made some files).
      this.addRecord(event.jobId, event.record, event.backend, event.at);
      if (event.kind === 'succeeded') for (const file of event.outputs) this.add(event.jobId, file, event.at);
    }
  }

  private add(jobId: string, file: OutputFile, at: number): void {
    // A later report wins: after a lost backend, the same name comes again from the one that finished it.
    const id = outputAssetId(jobId, file);
    this.byId.set(id, { id, jobId, file: { filename: file.filename, subfolder: file.subfolder, type: file.type, backend: file.backend }, at });
    let ids = this.byJob.get(jobId);
    if (!ids) this.byJob.set(jobId, (ids = new Set()));
    ids.add(id);
  }

  private drop(jobId: string): void {
    for (const id of this.byJob.get(jobId) ?? []) this.byId.delete(id);
    this.byJob.delete(jobId);
  }
}
