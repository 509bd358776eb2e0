// ComfyUI's queue_remaining for the whole bridge: the engine's count of unfinished jobs (either
// door's), announced whenever an event changes it.
import { EventEmitter } from 'node:events';
import type { Engine } from '../engine/index.js';

export class QueueLength extends EventEmitter<{ change: [] }> {
  private last: number;
  private readonly unsubscribe: () => void;

  constructor(private readonly engine: Engine) {
    super();
    this.last = engine.unfinished();
    this.unsubscribe = engine.events.subscribe(() => {
      const now = engine.unfinished();
      if (now === this.last) return;
      this.last = now;
      this.emit('change');
    });
  }

  get value(): number {
    return this.engine.unfinished();
  }

  close(): void {
    this.unsubscribe();
  }
}
