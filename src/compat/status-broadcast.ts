// The `status` broadcast: every socket hears the bridge's queue length when it changes. A burst of
// changes (twenty prompts queued at once) becomes one message.
import type { ClientSockets } from './sockets.js';
import type { QueueLength } from './queue-length.js';
import type { ComfyEvent } from './entries.js';

function statusEvent(queueRemaining: number): ComfyEvent {
  return { type: 'status', data: { status: { exec_info: { queue_remaining: queueRemaining } } } };
}

export class StatusBroadcast {
  private timer: NodeJS.Timeout | undefined;
  private readonly onChange = () => this.schedule();

  constructor(
    private readonly sockets: ClientSockets,
    private readonly length: QueueLength,
    private readonly coalesceMs = 10,
  ) {
    length.on('change', this.onChange);
  }

  /** Broadcast right away, e.g. between a prompt's last result and its final `executing`. */
  now(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.send();
  }

  /**
   * Send a change that is still waiting, so it arrives before what follows it (ComfyUI announces
   * the queued prompt before the prompt's own messages).
   */
  settle(): void {
    if (this.timer) this.now();
  }

  close(): void {
    clearTimeout(this.timer);
    this.length.off('change', this.onChange);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.send();
    }, this.coalesceMs);
    this.timer.unref();
  }

  private send(): void {
    this.sockets.broadcast(statusEvent(this.length.value));
  }
}
