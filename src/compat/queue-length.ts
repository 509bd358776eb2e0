// ComfyUI's queue_remaining for the whole bridge: jobs of either door not finished yet. Counted
// from the store's events, so it is right at the moment a job changes (the scheduler's own counts
// lag behind the store during a transition).
import { EventEmitter } from 'node:events';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import type { JobStore } from '../jobs/store.js';

export class QueueLength extends EventEmitter<{ change: [] }> {
  private readonly unfinished = new Set<string>();
  private readonly onState = (job: Job) => this.set(job.id, !isFinal(job));
  private readonly onRemoved = (job: Job) => this.set(job.id, false);

  constructor(private readonly store: JobStore) {
    super();
    for (const job of store.all()) if (!isFinal(job)) this.unfinished.add(job.id);
    store.on('state', this.onState);
    store.on('removed', this.onRemoved);
  }

  get value(): number {
    return this.unfinished.size;
  }

  close(): void {
    this.store.off('state', this.onState);
    this.store.off('removed', this.onRemoved);
  }

  private set(id: string, unfinished: boolean): void {
    const had = this.unfinished.has(id);
    if (had === unfinished) return;
    if (unfinished) this.unfinished.add(id);
    else this.unfinished.delete(id);
    this.emit('change');
  }
}
