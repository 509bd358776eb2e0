// At most one value per interval, the latest: what a preview stream needs, where a newer image
// makes every older one worthless and a client should not be sent more than it can show.

export class LatestThrottle<T> {
  private last = -Infinity;
  private pending: { value: T } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: (value: T) => void,
  ) {}

  /** Send now if the interval since the last send is up; else keep it (replacing any kept) for when it is. */
  offer(value: T): void {
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0 && this.timer === undefined) {
      this.emit(value);
      return;
    }
    this.pending = { value };
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, wait));
      this.timer.unref();
    }
  }

  /** Forget what is kept, or only a kept value that `match`es (its job ended, or the receiver went away). */
  drop(match?: (value: T) => boolean): void {
    if (this.pending && match && !match(this.pending.value)) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    const kept = this.pending;
    this.pending = undefined;
    if (kept) this.emit(kept.value);
  }

  private emit(value: T): void {
    this.last = Date.now();
    this.send(value);
  }
}
