// How fast each backend works, learned from the jobs it finished.
// A job's size is its work units (sampler steps plus one per node, see jobs/progress.ts); a
// backend's rate is seconds per unit, as an exponentially weighted average so it follows change.

const ALPHA = 0.3;

export class Estimates {
  private readonly rates = new Map<string, number>();
  private readonly durations = new Map<string, number>();

  /** A job of `units` took `seconds` of execution on `backend`. */
  record(backend: string, units: number, seconds: number): void {
    if (!(units > 0) || !(seconds >= 0) || !Number.isFinite(seconds)) return;
    this.rates.set(backend, smooth(this.rates.get(backend), seconds / units));
    this.durations.set(backend, smooth(this.durations.get(backend), seconds));
  }

  /** Typical seconds of a job on any backend; undefined before the first. */
  meanJobSeconds(): number | undefined {
    if (this.durations.size === 0) return undefined;
    let sum = 0;
    for (const d of this.durations.values()) sum += d;
    return sum / this.durations.size;
  }

  /** Typical seconds of a job on this backend, whatever its size; undefined before the first. */
  jobSeconds(backend: string): number | undefined {
    return this.durations.get(backend);
  }

  /** Seconds per unit measured on this backend itself; undefined before its first job. */
  measuredRate(backend: string): number | undefined {
    return this.rates.get(backend);
  }

  /** Seconds per unit on this backend; a backend never measured borrows the mean of the others. */
  rate(backend: string): number | undefined {
    const own = this.rates.get(backend);
    if (own !== undefined) return own;
    if (this.rates.size === 0) return undefined;
    let sum = 0;
    for (const r of this.rates.values()) sum += r;
    return sum / this.rates.size;
  }

  /** Expected seconds for `units` of work on `backend`, when anything is known. */
  seconds(backend: string, units: number): number | undefined {
    const r = this.rate(backend);
    return r === undefined ? undefined : r * units;
  }
}

function smooth(old: number | undefined, sample: number): number {
  return old === undefined ? sample : old + ALPHA * (sample - old);
}
