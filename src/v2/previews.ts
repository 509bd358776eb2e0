// The latest preview image of each running job, for an event stream that connects while the job
// runs. Memory only and bounded (by count and by bytes, the least recently updated go first); a
// job's preview goes when the job is final.
import { LRUCache } from 'lru-cache';

export interface Preview {
  /** The event number of the engine's preview event. */
  seq: number;
  node: string;
  mime: string;
  /** The image, base64. */
  data: string;
}

/** At most this many jobs' previews, and this many bytes of them, are kept. */
const MAX_JOBS = 1024;
const MAX_BYTES = 32 * 1024 * 1024;

export class LatestPreviews {
  private readonly latest = new LRUCache<string, Preview>({
    max: MAX_JOBS,
    maxSize: MAX_BYTES,
    sizeCalculation: (p) => Math.max(1, p.data.length),
  });

  set(jobId: string, preview: Preview): void {
    this.latest.set(jobId, preview);
  }

  get(jobId: string): Preview | undefined {
    // Reading is not using: the order stays that of the updates.
    return this.latest.peek(jobId);
  }

  forget(jobId: string): void {
    this.latest.delete(jobId);
  }
}
