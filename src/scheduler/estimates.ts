// How fast each backend works, learned from the jobs it finished.
// A job's size is its work units (sampler steps plus one per node, see jobs/progress.ts); a
// backend's rate is seconds per unit, as an exponentially weighted average so it follows change.

const ALPHA = 0.3;
/** Kinds of job remembered per backend. */
const MAX_SHAPES = 1000;

export class Estimates {
  private readonly rates = new Map<string, number>();
  private readonly durations = new Map<string, number>();
  /** Seconds of one kind of job (its shape, see shapeOf) on one backend: `${backend} ${shape}`. */
  private readonly shapes = new Map<string, number>();

  /** A job of `units` (and of `shape`, when known) took `seconds` of execution on `backend`. */
  record(backend: string, units: number, seconds: number, shape?: string): void {
    if (!(units > 0) || !(seconds >= 0) || !Number.isFinite(seconds)) return;
    this.rates.set(backend, smooth(this.rates.get(backend), seconds / units));
    this.durations.set(backend, smooth(this.durations.get(backend), seconds));
    if (shape !== undefined) {
      const key = `${backend} ${shape}`;
      // Bounded: a client that sends endless new shapes only refreshes the oldest.
      if (!this.shapes.has(key) && this.shapes.size >= MAX_SHAPES) this.shapes.delete(this.shapes.keys().next().value!);
      this.shapes.set(key, smooth(this.shapes.get(key), seconds));
    }
  }

  /**
   * Seconds measured for this very kind of job on this backend; undefined until one ran there.
   * Unlike `seconds`, it does not trust the unit count: a sleep or video node escapes it.
   */
  shapeSeconds(backend: string, shape: string): number | undefined {
    return this.shapes.get(`${backend} ${shape}`);
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
