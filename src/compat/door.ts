// The ComfyUI-compatible door's side of the engine: its prompts become engine jobs, and its
// queue, history, cancels and deletes are views of and actions on those jobs. What only this door
// needs (queue number, client_id, the backend's history record) is kept in its own side table.
// Prompts of both doors share one queue and one pool of backends. Every view and action is for a
// caller: with API keys, a key sees and acts on its own tenant's prompts only (the engine decides).
import type { Engine, Principal, SideTable } from '../engine/index.js';
import { ClientError, DuplicateJobError, OPERATOR } from '../engine/index.js';
import type { Job } from '../jobs/job.js';
import { isFinal, isOnBackend } from '../jobs/job.js';
import type { ComfyPrompt } from '../comfy/protocol.js';
import { newId } from '../ids.js';
import { UploadStore } from '../uploads/store.js';
import { replaceInputValues } from '../workflows/index.js';
import type { ErrorBody } from './errors.js';
import { errorBody, unrunnableBody } from './errors.js';
import type { HistoryEntryView, PromptRecord, QueueItem } from './entries.js';
import { historyEntry, historyWindow, inHistory, queueItem } from './entries.js';
import { backendTag } from './file-names.js';
import type { JobStatus, JobView, JobsPage, JobsQuery } from './jobs.js';
import { finishedJob, jobsPage, queuedJob } from './jobs.js';
import type { ComfyInputs } from './input-store.js';
import { storedRefsIn } from './input-store.js';
import type { PromptCounter } from './prompt-request.js';
import { readPromptRequest } from './prompt-request.js';
import { isPlainObject } from '../workflows/graph.js';
import { checkPrompt, outputNodes, restrictToOutputs } from './validation.js';

/** This door's name on its jobs, and the name of its side table. */
export const COMFY_DOOR = 'comfy';

export type SubmitAnswer =
  | { status: 200; body: { prompt_id: string; number: number; node_errors: Record<string, unknown> } }
  | { status: 400; body: ErrorBody };

/** A prompt's nodes are all {class_type, inputs} objects (what the engine can carry and patch). */
export function shapeProblem(prompt: Record<string, unknown>): ErrorBody | undefined {
  for (const [id, node] of Object.entries(prompt)) {
    if (!isPlainObject(node) || typeof node.class_type !== 'string') {
      return errorBody('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`);
    }
    if (!isPlainObject(node.inputs)) return errorBody('invalid_prompt', `Node ${id} has no "inputs" object.`, `Node ID '#${id}'`);
  }
  return undefined;
}

/**
 * The curated door's input source claims names shaped like its own (uuid.ext) and is asked first;
 * such a name of ours is written with its " [input]" annotation, which LoadImage reads the same.
 */
export function distinctRefs(refs: readonly string[]): Record<string, string> {
  const renamed: Record<string, string> = {};
  for (const ref of refs) if (UploadStore.isName(ref)) renamed[ref] = `${ref} [input]`;
  return renamed;
}

export class ComfyDoor {
  private next = 0;
  private readonly records: SideTable<PromptRecord>;
  readonly counter: PromptCounter = {
    peek: () => this.next,
    take: () => this.next++,
  };

  constructor(
    readonly engine: Engine,
    readonly inputs: ComfyInputs,
  ) {
    this.records = engine.doorTable<PromptRecord>(COMFY_DOOR);
    // ComfyUI's counter restarts at 0 with the process; the bridge's queue outlives it, so go on.
    for (const job of this.jobs(OPERATOR)) {
      const n = this.records.get(job.id)?.number;
      if (Number.isInteger(n) && n! >= this.next) this.next = n! + 1;
    }
  }

  close(): void {}

  /** This door's jobs the caller may see, in no particular order. */
  jobs(who: Principal): Job[] {
    return this.engine.as(who).jobs(COMFY_DOOR);
  }

  /** One of this door's jobs, if the caller may see it. */
  job(id: unknown, who: Principal): Job | undefined {
    const job = typeof id === 'string' ? this.engine.as(who).get(id) : undefined;
    return job?.door === COMFY_DOOR ? job : undefined;
  }

  /** This door's record of a prompt, with what its backend recorded once it finished. */
  record(id: string): PromptRecord | undefined {
    const record = this.records.get(id);
    const backend = this.engine.get(id)?.record;
    // Jobs finished before the engine kept the backend's record have it in the door's table.
    return record && backend ? { ...record, backend } : record;
  }

  /** POST /prompt: check, then persist and queue; the answer ComfyUI would give. */
  async submit(body: unknown, who: Principal): Promise<SubmitAnswer> {
    const { tenant } = who;
    const owns = (v: string) => this.inputs.owns(v, tenant);
    const parsed = readPromptRequest(body, this.counter);
    if (!parsed.ok) return { status: 400, body: parsed.body };
    const request = parsed.request;
    const id = request.promptId ?? newId();
    if (this.engine.get(id)) return { status: 400, body: duplicateId(id) };

    let prompt = request.prompt;
    let outputs: string[] | undefined;
    let nodeErrors: Record<string, unknown> = {};
    const info = await this.engine.pool.objectInfo();
    if (info) {
      const outcome = checkPrompt(prompt, request.targets, info, owns);
      if (!outcome.ok) return { status: 400, body: { error: outcome.error!, node_errors: outcome.nodeErrors } };
      outputs = outcome.outputs;
      nodeErrors = outcome.nodeErrors;
      // Backends run every valid output they are sent: leave out the ones that are not to run.
      if (outputs.length < outputNodes(prompt, info).length || shapeProblem(prompt)) prompt = restrictToOutputs(prompt, outputs);
    } else {
      // No backend to ask: the backend that takes the job checks it; the engine needs the shape.
      const problem = shapeProblem(prompt);
      if (problem) return { status: 400, body: problem };
    }

    let uploads = storedRefsIn(prompt, owns);
    const renamed = distinctRefs(uploads);
    if (Object.keys(renamed).length) {
      prompt = replaceInputValues(prompt as ComfyPrompt, renamed) as Record<string, unknown>;
      uploads = uploads.map((ref) => renamed[ref] ?? ref);
    }

    // The backend hears the prompt under its own socket's client_id; the rest of extra_data goes along.
    const { client_id: _clientId, ...backendExtra } = request.extraData;
    const record: PromptRecord = {
      number: request.number,
      extraData: request.extraData,
      ...(request.clientId !== undefined && { clientId: request.clientId }),
      ...(outputs && { outputs }),
    };
    try {
      await this.engine.as(who).submit({
        id,
        clientId: request.clientId ?? `comfy-anonymous-${newId()}`,
        door: COMFY_DOOR,
        prompt: prompt as ComfyPrompt,
        uploads,
        extraData: backendExtra,
        priority: request.priority,
        ...((request.tier !== undefined || request.front) && { tier: request.tier ?? this.engine.as(who).priorities().maxPriority }),
        tables: { [COMFY_DOOR]: record },
      });
    } catch (err) {
      // Two clients sent the same new prompt_id at once.
      if (err instanceof DuplicateJobError) return { status: 400, body: duplicateId(id) };
      if (err instanceof ClientError && err.code === 'unrunnable') return { status: 400, body: unrunnableBody(err.detail, err.problems ?? [], err.missing) };
      throw err;
    }
    return { status: 200, body: { prompt_id: id, number: request.number, node_errors: nodeErrors } };
  }

  /** outputs_to_execute of a job. */
  outputsOf(job: Job): string[] {
    const record = this.record(job.id);
    const known = record?.outputs ?? record?.backend?.outputsToExecute;
    if (known) return known;
    const info = this.engine.pool.cachedObjectInfo();
    return info ? outputNodes(job.prompt as Record<string, unknown>, info) : [];
  }

  private item(job: Job): QueueItem {
    return queueItem(job, this.record(job.id), this.outputsOf(job));
  }

  /** Unfinished prompts: running ones by start, the rest in run order. */
  private open(who: Principal): { running: Job[]; pending: Job[] } {
    const open = this.jobs(who).filter((j) => !isFinal(j));
    const running = open.filter((j) => j.state === 'running').sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    // Ranked once each: a queue position is a scan of the waiting list.
    const ranks = new Map<Job, number>();
    for (const j of open) ranks.set(j, isOnBackend(j) ? 0 : (this.engine.position(j.id) ?? Number.MAX_SAFE_INTEGER));
    const pending = open.filter((j) => j.state !== 'running').sort((a, b) => ranks.get(a)! - ranks.get(b)! || a.createdAt - b.createdAt);
    return { running, pending };
  }

  /** Prompts /history lists, oldest first. */
  private finished(who: Principal): Job[] {
    return this.jobs(who)
      .filter((j) => inHistory(j, this.record(j.id)))
      .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.createdAt - b.createdAt);
  }

  /** GET /queue: running is what executes now; pending is everything else not finished, in run order. */
  queue(who: Principal): { queue_running: QueueItem[]; queue_pending: QueueItem[] } {
    const { running, pending } = this.open(who);
    return {
      queue_running: running.map((j) => this.item(j)),
      queue_pending: pending.map((j) => this.item(j)),
    };
  }

  /** POST /queue {delete}: pending prompts only; the running ones are left alone, as in ComfyUI. */
  async deletePending(ids: readonly unknown[], who: Principal): Promise<void> {
    const jobs = ids.map((id) => this.job(id, who)).filter((j): j is Job => j !== undefined && !isFinal(j) && j.state !== 'running');
    await this.cancel(jobs, 'deleted from the queue', who);
  }

  /** POST /queue {clear}: every pending prompt of this door the caller may see. */
  async clearPending(who: Principal): Promise<void> {
    await this.cancel(
      this.jobs(who).filter((j) => !isFinal(j) && j.state !== 'running'),
      'the queue was cleared',
      who,
    );
  }

  /** POST /interrupt: that prompt if it is running, or (no id) every running prompt of this door. */
  interrupt(promptId: string | undefined, who: Principal): void {
    const jobs = promptId === undefined ? this.jobs(who).filter((j) => j.state === 'running') : [this.job(promptId, who)].filter((j): j is Job => j?.state === 'running');
    // ComfyUI answers at once; the interruption shows up on the websocket.
    void this.cancel(jobs, 'interrupted', who);
  }

  private async cancel(jobs: Job[], reason: string, who: Principal): Promise<void> {
    const caller = this.engine.as(who);
    await Promise.all(jobs.map((j) => caller.cancel(j.id, reason)));
  }

  /** GET /history: finished prompts, oldest first, in ComfyUI's window. */
  history(who: Principal, maxItems: number | undefined, offset: number | undefined): Record<string, HistoryEntryView> {
    const out: Record<string, HistoryEntryView> = {};
    for (const job of historyWindow(this.finished(who), maxItems, offset)) out[job.id] = historyEntry(job, this.record(job.id), this.outputsOf(job));
    return out;
  }

  /** GET /history/{id}: the entry, or {} while unknown, queued or running. */
  entry(id: string, who: Principal): Record<string, HistoryEntryView> {
    const job = this.job(id, who);
    const record = job && this.record(job.id);
    return job && inHistory(job, record) ? { [id]: historyEntry(job, record, this.outputsOf(job)) } : {};
  }

  /** POST /history: forget finished prompts here and on their backends. */
  async forget(ids: readonly unknown[] | 'all', who: Principal): Promise<void> {
    const jobs = ids === 'all' ? this.jobs(who) : ids.map((id) => this.job(id, who)).filter((j): j is Job => j !== undefined);
    await this.engine.as(who).forget(jobs.filter(isFinal).map((j) => j.id));
  }

  /** A prompt as ComfyUI's jobs API shows it; none for one deleted before it ran (ComfyUI forgets those). */
  private jobView(job: Job, detail: boolean): JobView | undefined {
    if (!isFinal(job)) return queuedJob(this.item(job), job.state === 'running' ? 'in_progress' : 'pending', job.createdAt, detail);
    const record = this.record(job.id);
    if (!inHistory(job, record)) return undefined;
    const times = { created: job.createdAt, started: job.startedAt, ended: job.finishedAt };
    return finishedJob(job.id, historyEntry(job, record, this.outputsOf(job)), times, job.backend && backendTag(job.backend), detail);
  }

  /** GET /api/jobs: the caller's prompts, running first, then pending in run order, then finished. */
  jobList(who: Principal, query: JobsQuery): JobsPage {
    const wants = (status: JobStatus) => query.statuses === undefined || query.statuses.includes(status);
    const { running, pending } = this.open(who);
    const jobs = [
      ...(wants('in_progress') ? running : []),
      ...(wants('pending') ? pending : []),
      ...(wants('completed') || wants('failed') || wants('cancelled') ? this.finished(who) : []),
    ];
    return jobsPage(jobs.map((j) => this.jobView(j, false)).filter((v): v is JobView => v !== undefined), query);
  }

  /** GET /api/jobs/{id}: none when unknown, another tenant's, or deleted before it ran. */
  jobDetail(id: string, who: Principal): JobView | undefined {
    const job = this.job(id, who);
    return job && this.jobView(job, true);
  }

  /**
   * POST /api/jobs/{id}/cancel: a running prompt is interrupted (answered at once, as ComfyUI does),
   * a pending one dequeued. False when there was nothing to cancel: finished, unknown, not the caller's.
   */
  async cancelJob(id: unknown, who: Principal): Promise<boolean> {
    const job = this.job(id, who);
    if (!job || isFinal(job)) return false;
    if (job.state === 'running') void this.cancel([job], 'interrupted', who);
    else await this.cancel([job], 'cancelled', who);
    return true;
  }

  /**
   * Is this file an output of a prompt the caller may see? Output files are only unique per
   * backend, so the backend is part of the question.
   */
  madeFor(who: Principal, backend: string, file: { filename: string; subfolder: string; type: string }): boolean {
    return this.jobs(who).some((job) =>
      job.outputs.some((o) => o.backend === backend && o.filename === file.filename && (o.subfolder ?? '') === file.subfolder && (o.type ?? 'output') === file.type),
    );
  }

  /** POST /free: every healthy backend. */
  async free(options: { unload_models: boolean; free_memory: boolean }): Promise<void> {
    await this.engine.freeMemory(options);
  }
}

function duplicateId(id: string): ErrorBody {
  return errorBody('invalid_prompt_id', 'prompt_id is already in use', `a prompt with id ${id} exists; send a new uuid4, or none to get one`);
}
