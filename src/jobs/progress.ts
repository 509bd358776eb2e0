// How ComfyUI's execution events become one fraction of work done (0..1) for a job.
// Pure: feed it messages, read `fraction`. It never goes backwards.
//
// Each node that runs counts as one unit; a node with a `steps` input (a sampler) counts
// as that many units, because that is where the time goes. Cached nodes count as done.
import type { ComfyMessage, ComfyPrompt } from '../comfy/protocol.js';

/** Weight of each node: its sampler steps, or 1. */
function nodeWeight(node: ComfyPrompt[string] | undefined): number {
  const steps = node?.inputs?.steps;
  return typeof steps === 'number' && Number.isFinite(steps) && steps > 1 ? Math.min(steps, 10_000) : 1;
}

/** The size of a job in work units: what the scheduler's time estimates scale with. */
export function workUnits(prompt: ComfyPrompt): number {
  let total = 0;
  for (const node of Object.values(prompt)) total += nodeWeight(node);
  return Math.max(total, 1);
}

export class JobProgress {
  private readonly weights = new Map<string, number>();
  private readonly total: number;
  private readonly done = new Set<string>();
  private current: string | undefined;
  private currentFraction = 0;
  private best = 0;

  constructor(prompt: ComfyPrompt) {
    for (const [id, node] of Object.entries(prompt)) this.weights.set(id, nodeWeight(node));
    this.total = workUnits(prompt);
  }

  /** Current fraction in [0, 1]; monotonic. */
  get fraction(): number {
    return this.best;
  }

  /** Apply one message that belongs to this job; returns true when the fraction moved. */
  apply(msg: ComfyMessage): boolean {
    const d = msg.data ?? {};
    switch (msg.type) {
      case 'execution_cached':
        for (const id of Array.isArray(d.nodes) ? d.nodes : []) this.finish(String(id));
        break;
      case 'executing': {
        if (d.node === null || d.node === undefined) {
          // The end of the prompt, also after an error: the node that was running did not finish.
          this.current = undefined;
          break;
        }
        const node = String(d.node);
        if (node === this.current) break; // repeated for the running node (e.g. on reconnect)
        if (this.current !== undefined) this.finish(this.current);
        this.current = node;
        this.currentFraction = 0;
        break;
      }
      case 'progress': {
        const value = Number(d.value);
        const max = Number(d.max);
        if (Number.isFinite(value) && Number.isFinite(max) && max > 0) {
          if (d.node !== undefined && d.node !== null && String(d.node) !== this.current) {
            if (this.current !== undefined) this.finish(this.current);
            this.current = String(d.node);
          }
          this.currentFraction = Math.min(Math.max(value / max, 0), 1);
        }
        break;
      }
      case 'executed':
        if (d.node !== undefined && d.node !== null) this.finish(String(d.node));
        break;
      case 'execution_success':
        return this.complete();
      default:
        return false;
    }
    return this.recompute();
  }

  /** Mark everything done (the job finished). */
  complete(): boolean {
    const before = this.best;
    this.best = 1;
    return before !== 1;
  }

  private finish(id: string): void {
    this.done.add(id);
    if (this.current === id) this.currentFraction = 0;
  }

  private recompute(): boolean {
    let units = 0;
    for (const id of this.done) units += this.weights.get(id) ?? 1;
    if (this.current !== undefined && !this.done.has(this.current)) {
      units += (this.weights.get(this.current) ?? 1) * this.currentFraction;
    }
    // Never claim 100% before the backend says it is done.
    const next = Math.min(units / this.total, 0.99);
    if (next > this.best) {
      this.best = next;
      return true;
    }
    return false;
  }
}

/** "12.62%": the format clients of the original bridge parse. */
export function formatPercent(fraction: number): string {
  return `${(Math.min(Math.max(fraction, 0), 1) * 100).toFixed(2)}%`;
}
