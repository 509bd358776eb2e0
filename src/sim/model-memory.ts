// Which checkpoints a simulated backend holds loaded: loading one costs time, and only so many
// stay loaded (the least recently used is dropped), as a GPU's memory allows. What the bridge's
// model affinity is measured against.

export interface ModelMemoryOptions {
  /** Milliseconds to load a checkpoint not held: one figure, or per file name (others: `default`). */
  loadMs: number | Record<string, number>;
  /** Checkpoints kept loaded at once. */
  keep: number;
}

export class ModelMemory {
  /** Loaded checkpoints, least recently used first. */
  private readonly loaded: string[] = [];
  /** How many loads happened (for tests and benchmarks). */
  loads = 0;

  constructor(private readonly options: ModelMemoryOptions) {}

  /** Milliseconds it takes to have `ckpt` loaded now (0 when it is), and mark it used. */
  use(ckpt: string): number {
    const i = this.loaded.indexOf(ckpt);
    if (i >= 0) {
      this.loaded.splice(i, 1);
      this.loaded.push(ckpt);
      return 0;
    }
    this.loads++;
    this.loaded.push(ckpt);
    while (this.loaded.length > Math.max(1, this.options.keep)) this.loaded.shift();
    const { loadMs } = this.options;
    return typeof loadMs === 'number' ? loadMs : (loadMs[ckpt] ?? loadMs.default ?? 0);
  }

  /** Unload everything (POST /free with unload_models). */
  clear(): void {
    this.loaded.length = 0;
  }

  /** What is loaded now, least recently used first. */
  held(): string[] {
    return [...this.loaded];
  }
}
