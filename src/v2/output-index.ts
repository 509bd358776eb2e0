// Every output file of the door's jobs is an asset, whose id is derived from the job and the file
// (asset-ids.ts). This index answers "which job's file is this id?" in O(1): it is filled from the
// jobs held at start, then kept current by the engine's events — an `output` while a job runs, the
// full list on `succeeded`, and dropped on `removed` (the job swept or forgotten). Every process of
// a cluster hears every event, so each holds the same index.
import type { Engine, EngineEvent } from '../engine/index.js';
import type { Job, OutputFile } from '../jobs/job.js';
import { outputFiles } from '../comfy/protocol.js';
import { outputAssetId } from './asset-ids.js';

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
    for (const file of job.outputs) this.add(job.id, file, at);
    if (job.backend === undefined) return;
    for (const reported of job.nodeOutputs ?? []) {
      for (const file of outputFiles({ [reported.node]: reported.output as Record<string, unknown> })) this.add(job.id, { ...file, backend: job.backend }, at);
    }
  }

  private hear(event: EngineEvent): void {
    if (event.kind === 'removed') {
      for (const { jobId } of event.jobs) this.drop(jobId);
      return;
    }
    if (!('jobId' in event) || event.door !== this.door) return;
    if (event.kind === 'output' && event.backend !== undefined) {
      const ui = event.output && typeof event.output === 'object' ? (event.output as Record<string, unknown>) : null;
      for (const file of outputFiles({ [event.node]: ui })) this.add(event.jobId, { ...file, backend: event.backend }, event.at);
    } else if (event.kind === 'succeeded') {
      for (const file of event.outputs) this.add(event.jobId, file, event.at);
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
