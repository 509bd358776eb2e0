// Cancels asked through this API, so a job shows as canceling until it is final. A record per job
// in a collection, so every process of a cluster (and this one after a restart) sees the same; it
// is dropped once the job is final or gone.
import type { Collection, Engine } from '../engine/index.js';
import { isFinal } from '../jobs/job.js';

export const CANCELS = 'v2-cancels';

interface CancelMark {
  /** When it was asked (ms). */
  at: number;
}

export class CancelMarks {
  private readonly marks: Collection<CancelMark>;

  constructor(private readonly engine: Engine) {
    this.marks = engine.collection<CancelMark>(CANCELS);
  }

  asked(jobId: string): boolean {
    return this.marks.has(jobId);
  }

  /** Resolves once the mark is stored. */
  mark(jobId: string): Promise<void> {
    return this.asked(jobId) ? Promise.resolve() : this.marks.set(jobId, { at: Date.now() });
  }

  forget(jobId: string): Promise<void> {
    return this.marks.delete(jobId);
  }

  /** Drop the marks of jobs that are final or gone. */
  async sweep(): Promise<void> {
    const done = [...this.marks.entries()].filter(([id]) => {
      const job = this.engine.get(id);
      return !job || isFinal(job);
    });
    await Promise.all(done.map(([id]) => this.marks.delete(id)));
  }
}
