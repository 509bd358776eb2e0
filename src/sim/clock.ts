// Simulated work time: scaled by the speed factor, frozen while the backend
// hangs, and cancelled when the backend dies.

/** Thrown out of pending sleeps when the backend stops; the worker unwinds on it. */
export class BackendStopped extends Error {
  constructor() {
    super('backend stopped');
  }
}

interface Sleeper {
  remaining: number;
  startedAt: number;
  cancel: (() => void) | null;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Clock {
  private paused = false;
  private stopped = false;
  private readonly sleepers = new Set<Sleeper>();
  private resumeWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(private speedFactor: () => number) {}

  get isPaused(): boolean {
    return this.paused;
  }

  /** Waits `ms` of simulated time (divided by the speed factor). Always yields to the event loop. */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.reject(new BackendStopped());
    const speed = this.speedFactor();
    const wall = Math.max(0, ms / (speed > 0 ? speed : 1));
    return new Promise<void>((resolve, reject) => {
      const sleeper: Sleeper = { remaining: wall, startedAt: 0, cancel: null, resolve, reject };
      this.sleepers.add(sleeper);
      if (!this.paused) this.arm(sleeper);
    });
  }

  /** Resolves once the clock is not paused (immediately if it is running). */
  whenRunning(): Promise<void> {
    if (this.stopped) return Promise.reject(new BackendStopped());
    if (!this.paused) return Promise.resolve();
    return new Promise((resolve, reject) => this.resumeWaiters.push({ resolve, reject }));
  }

  pause(): void {
    if (this.paused || this.stopped) return;
    this.paused = true;
    const now = performance.now();
    for (const s of this.sleepers) {
      s.cancel?.();
      s.cancel = null;
      s.remaining = Math.max(0, s.remaining - (now - s.startedAt));
    }
  }

  resume(): void {
    if (!this.paused || this.stopped) return;
    this.paused = false;
    for (const s of this.sleepers) this.arm(s);
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Rejects every pending and future sleep. */
  stop(): void {
    this.stopped = true;
    for (const s of this.sleepers) {
      s.cancel?.();
      s.reject(new BackendStopped());
    }
    this.sleepers.clear();
    for (const w of this.resumeWaiters) w.reject(new BackendStopped());
    this.resumeWaiters = [];
  }

  private arm(s: Sleeper): void {
    s.startedAt = performance.now();
    const done = () => {
      this.sleepers.delete(s);
      s.resolve();
    };
    // Zero-length work still yields, so a fully cached queue cannot starve the event loop.
    if (s.remaining >= 1) {
      const timer = setTimeout(done, s.remaining);
      s.cancel = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(done);
      s.cancel = () => clearImmediate(immediate);
    }
  }
}
