// The ComfyUI-compatible door's side of the engine: its prompts become bridge jobs (source
// 'comfy'), and its queue, history, cancels and deletes are views of and actions on those jobs.
// Prompts of both doors share one queue and one pool of backends.
import { randomUUID } from 'node:crypto';
import type { Bridge } from '../bridge.js';
import type { Job } from '../jobs/job.js';
import { isFinal, isOnBackend, newJob } from '../jobs/job.js';
import { StoreError } from '../jobs/store.js';
import type { ComfyPrompt } from '../comfy/protocol.js';
import { UploadStore } from '../uploads/store.js';
import { replaceInputValues } from '../workflows/index.js';
import type { BackendInfo } from './backend-info.js';
import type { ErrorBody } from './errors.js';
import { errorBody } from './errors.js';
import type { HistoryEntryView, QueueItem } from './entries.js';
import { historyEntry, historyWindow, inHistory, queueItem } from './entries.js';
import type { ComfyInputs } from './input-store.js';
import { storedRefsIn } from './input-store.js';
import type { PromptCounter } from './prompt-request.js';
import { readPromptRequest } from './prompt-request.js';
import { isObject } from './request-body.js';
import { checkPrompt, outputNodes, restrictToOutputs } from './validation.js';
import { logger } from '../log.js';

const log = logger('compat');

export type SubmitAnswer =
  | { status: 200; body: { prompt_id: string; number: number; node_errors: Record<string, unknown> } }
  | { status: 400; body: ErrorBody };

/** A prompt's nodes are all {class_type, inputs} objects (what the engine can carry and patch). */
export function shapeProblem(prompt: Record<string, unknown>): ErrorBody | undefined {
  for (const [id, node] of Object.entries(prompt)) {
    if (!isObject(node) || typeof node.class_type !== 'string') {
      return errorBody('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`);
    }
    if (!isObject(node.inputs)) return errorBody('invalid_prompt', `Node ${id} has no "inputs" object.`, `Node ID '#${id}'`);
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
  private readonly onRemoved = (job: Job) => this.outputs.delete(job.id);
  /** outputs_to_execute of prompts accepted by this process (later: from history or /object_info). */
  private readonly outputs = new Map<string, string[]>();
  readonly counter: PromptCounter = {
    peek: () => this.next,
    take: () => this.next++,
  };

  constructor(
    readonly bridge: Bridge,
    private readonly info: BackendInfo,
    readonly inputs: ComfyInputs,
  ) {
    // ComfyUI's counter restarts at 0 with the process; the bridge's queue outlives it, so go on.
    for (const job of this.jobs()) if (Number.isInteger(job.number) && job.number! >= this.next) this.next = job.number! + 1;
    bridge.store.on('removed', this.onRemoved);
  }

  close(): void {
    this.bridge.store.off('removed', this.onRemoved);
  }

  /** This door's jobs, in no particular order. */
  jobs(): Job[] {
    return [...this.bridge.store.all()].filter((j) => j.source === 'comfy');
  }

  job(id: unknown): Job | undefined {
    const job = typeof id === 'string' ? this.bridge.store.get(id) : undefined;
    return job?.source === 'comfy' ? job : undefined;
  }

  /** POST /prompt: check, then persist and queue; the answer ComfyUI would give. */
  async submit(body: unknown): Promise<SubmitAnswer> {
    const parsed = readPromptRequest(body, this.counter);
    if (!parsed.ok) return { status: 400, body: parsed.body };
    const request = parsed.request;
    const id = request.promptId ?? randomUUID();
    if (this.bridge.store.get(id)) return { status: 400, body: duplicateId(id) };

    let prompt = request.prompt;
    let outputs: string[] | undefined;
    let nodeErrors: Record<string, unknown> = {};
    const info = await this.info.objectInfo();
    if (info) {
      const outcome = checkPrompt(prompt, request.targets, info, (v) => this.inputs.owns(v));
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

    let uploads = storedRefsIn(prompt, (v) => this.inputs.owns(v));
    const renamed = distinctRefs(uploads);
    if (Object.keys(renamed).length) {
      prompt = replaceInputValues(prompt as ComfyPrompt, renamed) as Record<string, unknown>;
      uploads = uploads.map((ref) => renamed[ref] ?? ref);
    }

    const job = newJob({
      id,
      clientId: request.clientId ?? `comfy-anonymous-${randomUUID()}`,
      source: 'comfy',
      workflow: '',
      prompt: prompt as ComfyPrompt,
      uploads,
      extraData: request.extraData,
      number: request.number,
      priority: request.priority,
    });
    if (outputs) this.outputs.set(id, outputs);
    try {
      await this.bridge.submit(job);
    } catch (err) {
      this.outputs.delete(id);
      // Two clients sent the same new prompt_id at once.
      if (err instanceof StoreError) return { status: 400, body: duplicateId(id) };
      throw err;
    }
    return { status: 200, body: { prompt_id: id, number: request.number, node_errors: nodeErrors } };
  }

  /** outputs_to_execute of a job. */
  outputsOf(job: Job): string[] {
    const known = this.outputs.get(job.id);
    if (known) return known;
    const recorded = job.history?.prompt?.[4];
    if (Array.isArray(recorded) && recorded.every((x) => typeof x === 'string')) return recorded as string[];
    const info = this.info.cachedObjectInfo();
    return info ? outputNodes(job.prompt as Record<string, unknown>, info) : [];
  }

  /** GET /queue: running is what executes now; pending is everything else not finished, in run order. */
  queue(): { queue_running: QueueItem[]; queue_pending: QueueItem[] } {
    const open = this.jobs().filter((j) => !isFinal(j));
    const running = open.filter((j) => j.state === 'running').sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    const { scheduler } = this.bridge;
    // Ranked once each: a queue position is a scan of the waiting list.
    const ranks = new Map<Job, number>();
    for (const j of open) ranks.set(j, isOnBackend(j) ? 0 : (scheduler.position(j.id) ?? Number.MAX_SAFE_INTEGER));
    const pending = open.filter((j) => j.state !== 'running').sort((a, b) => ranks.get(a)! - ranks.get(b)! || a.createdAt - b.createdAt);
    return {
      queue_running: running.map((j) => queueItem(j, this.outputsOf(j))),
      queue_pending: pending.map((j) => queueItem(j, this.outputsOf(j))),
    };
  }

  /** POST /queue {delete}: pending prompts only; the running ones are left alone, as in ComfyUI. */
  async deletePending(ids: readonly unknown[]): Promise<void> {
    const jobs = ids.map((id) => this.job(id)).filter((j): j is Job => j !== undefined && !isFinal(j) && j.state !== 'running');
    await this.cancel(jobs, 'deleted from the queue');
  }

  /** POST /queue {clear}: every pending prompt of this door. */
  async clearPending(): Promise<void> {
    await this.cancel(
      this.jobs().filter((j) => !isFinal(j) && j.state !== 'running'),
      'the queue was cleared',
    );
  }

  /** POST /interrupt: that prompt if it is running, or (no id) every running prompt of this door. */
  interrupt(promptId?: string): void {
    const jobs = promptId === undefined ? this.jobs().filter((j) => j.state === 'running') : [this.job(promptId)].filter((j): j is Job => j?.state === 'running');
    // ComfyUI answers at once; the interruption shows up on the websocket.
    void this.cancel(jobs, 'interrupted');
  }

  private async cancel(jobs: Job[], reason: string): Promise<void> {
    await Promise.all(
      jobs.map((j) => this.bridge.scheduler.cancel(j, reason).catch((err) => log.warn(`cancelling ${j.id} failed: ${(err as Error).message}`))),
    );
  }

  /** GET /history: finished prompts, oldest first, in ComfyUI's window. */
  history(maxItems: number | undefined, offset: number | undefined): Record<string, HistoryEntryView> {
    const done = this.jobs()
      .filter(inHistory)
      .sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.createdAt - b.createdAt);
    const out: Record<string, HistoryEntryView> = {};
    for (const job of historyWindow(done, maxItems, offset)) out[job.id] = historyEntry(job, this.outputsOf(job));
    return out;
  }

  /** GET /history/{id}: the entry, or {} while unknown, queued or running. */
  entry(id: string): Record<string, HistoryEntryView> {
    const job = this.job(id);
    return job && inHistory(job) ? { [id]: historyEntry(job, this.outputsOf(job)) } : {};
  }

  /** POST /history: forget finished prompts here and on their backends. */
  async forget(ids: readonly unknown[] | 'all'): Promise<void> {
    const jobs = (ids === 'all' ? this.jobs() : ids.map((id) => this.job(id)).filter((j): j is Job => j !== undefined)).filter(isFinal);
    if (jobs.length === 0) return;
    const byBackend = new Map<string, string[]>();
    for (const j of jobs) if (j.backend && j.history) byBackend.set(j.backend, [...(byBackend.get(j.backend) ?? []), j.id]);
    await this.bridge.store.remove(jobs);
    await Promise.all(
      [...byBackend].map(([url, promptIds]) =>
        this.bridge
          .backend(url)
          ?.client.deleteHistory(promptIds)
          .catch((err) => log.warn(`could not delete history on ${url}: ${(err as Error).message}`)),
      ),
    );
  }

  /** POST /free: every healthy backend. */
  async free(options: { unload_models: boolean; free_memory: boolean }): Promise<void> {
    await Promise.all(
      this.info.healthy().map((b) => b.client.free(options).catch((err) => log.warn(`POST /free on ${b.url} failed: ${(err as Error).message}`))),
    );
  }
}

function duplicateId(id: string): ErrorBody {
  return errorBody('invalid_prompt_id', 'prompt_id is already in use', `a prompt with id ${id} exists; send a new uuid4, or none to get one`);
}
