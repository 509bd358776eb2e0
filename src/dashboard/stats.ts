// Jobs finished and time spent waiting, per bucket of time, for the dashboard's sparklines. A
// fixed number of buckets is kept, so memory stays the same however long the bridge runs.
import type { StatsView } from './view.js';

interface Bucket {
  finished: number;
  failed: number;
  waitSum: number;
  waitCount: number;
  waitMax: number;
}

export class ThroughputStats {
  private readonly buckets = new Map<number, Bucket>();

  constructor(
    readonly bucketMs = 10_000,
    /** Buckets kept: 90 of 10 s show the last quarter of an hour. */
    readonly size = 90,
  ) {}

  /** A job finished at `at`: succeeded, or failed. */
  finished(at: number, ok: boolean): void {
    const b = this.bucket(at);
    if (ok) b.finished++;
    else b.failed++;
  }

  /** A job started running at `at` after waiting `seconds` since it was queued. */
  waited(at: number, seconds: number): void {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
    const b = this.bucket(at);
    b.waitSum += seconds;
    b.waitCount++;
    b.waitMax = Math.max(b.waitMax, seconds);
  }

  view(now: number): StatsView {
    const last = Math.floor(now / this.bucketMs);
    this.prune(last);
    const view: StatsView = { bucketMs: this.bucketMs, end: (last + 1) * this.bucketMs, finished: [], failed: [], waitMean: [], waitMax: [] };
    for (let i = last - this.size + 1; i <= last; i++) {
      const b = this.buckets.get(i);
      view.finished.push(b?.finished ?? 0);
      view.failed.push(b?.failed ?? 0);
      view.waitMean.push(b && b.waitCount > 0 ? round(b.waitSum / b.waitCount) : null);
      view.waitMax.push(b && b.waitCount > 0 ? round(b.waitMax) : null);
    }
    return view;
  }

  private bucket(at: number): Bucket {
    const i = Math.floor(at / this.bucketMs);
    let b = this.buckets.get(i);
    if (!b) {
      this.buckets.set(i, (b = { finished: 0, failed: 0, waitSum: 0, waitCount: 0, waitMax: 0 }));
      this.prune(i);
    }
    return b;
  }

  private prune(last: number): void {
    for (const i of this.buckets.keys()) if (i <= last - this.size) this.buckets.delete(i);
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 100) / 100;
}
