// How far a job's current run is, as its events tell: whether its backend started it, and which
// nodes are done (cached ones, and each one the backend moved on from). The engine keeps only the
// running node (Job.progress), and in a cluster the dispatcher writes `running` lazily, so this is
// followed from the events, in memory, for unfinished jobs only. A process that starts in the
// middle of a run counts at least the nodes the running one depends on (they must have run).
import type { ComfyPrompt } from '../comfy/protocol.js';
import type { JobEvent } from '../engine/index.js';
import { isFinalEvent } from './job-view.js';
import { isPlainObject } from '../workflows/graph.js';

interface Run {
  done: Set<string>;
  current?: string;
  started?: boolean;
}

export class NodeProgress {
  private readonly runs = new Map<string, Run>();

  /** Follow one job event. */
  hear(event: JobEvent): void {
    switch (event.kind) {
      case 'dispatched':
      case 'requeued':
        // A new attempt runs the graph again from the start.
        this.runs.set(event.jobId, { done: new Set() });
        break;
      case 'started':
        this.run(event.jobId).started = true;
        break;
      case 'cached':
        for (const node of event.nodes) this.run(event.jobId).done.add(node);
        break;
      case 'progress': {
        const run = this.run(event.jobId);
        run.started = true;
        const node = event.progress.node;
        if (node !== undefined && node !== run.current) {
          if (run.current !== undefined) run.done.add(run.current);
          run.current = node;
        }
        break;
      }
      case 'output':
        this.run(event.jobId).done.add(event.node);
        break;
      default:
        if (isFinalEvent(event)) this.runs.delete(event.jobId);
    }
  }

  /** Did the backend start the current attempt? Undefined when this process has not followed it. */
  started(jobId: string): boolean | undefined {
    const run = this.runs.get(jobId);
    return run && run.started === true;
  }

  forget(jobId: string): void {
    this.runs.delete(jobId);
  }

  /** How many nodes of the graph are done, with `current` running now. */
  done(jobId: string, prompt: ComfyPrompt, current: string | undefined): number {
    const run = this.runs.get(jobId);
    const heard = run ? [...run.done].filter((n) => n !== current && Object.hasOwn(prompt, n)).length : 0;
    return Math.max(heard, current === undefined ? 0 : ancestors(prompt, current));
  }

  private run(jobId: string): Run {
    let run = this.runs.get(jobId);
    if (!run) this.runs.set(jobId, (run = { done: new Set() }));
    return run;
  }
}

/** How many nodes `node` depends on, through its links. */
export function ancestors(prompt: ComfyPrompt, node: string): number {
  const seen = new Set<string>();
  const frontier = [node];
  while (frontier.length) {
    const inputs = prompt[frontier.pop()!]?.inputs;
    if (!isPlainObject(inputs)) continue;
    for (const value of Object.values(inputs)) {
      if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string') continue;
      const source = value[0];
      if (source === node || seen.has(source) || !Object.hasOwn(prompt, source)) continue;
      seen.add(source);
      frontier.push(source);
    }
  }
  return seen.size;
}
