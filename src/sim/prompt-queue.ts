// Pending and running prompts: a heap ordered by (number, prompt_id) plus the
// one item the worker is running, as execution.PromptQueue keeps them.
import { heapify, heapPop, heapPush } from './heap.js';

/** [number, prompt_id, prompt, extra_data, outputs_to_execute], the shape /queue and /history expose. */
export type QueueItem = [
  number: number,
  promptId: string,
  prompt: Record<string, unknown>,
  extraData: Record<string, unknown>,
  outputs: string[],
];

const runsBefore = (a: QueueItem, b: QueueItem): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

export class PromptQueue {
  private heap: QueueItem[] = [];
  private readonly running = new Map<number, QueueItem>();
  private taskCounter = 0;

  /** `changed` fires on every put, take, finish, delete and clear, like queue_updated(). */
  constructor(private readonly changed: () => void) {}

  get remaining(): number {
    return this.heap.length + this.running.size;
  }

  put(item: QueueItem): void {
    heapPush(this.heap, item, runsBefore);
    this.changed();
  }

  /** Moves the next prompt to "running"; the running copy is what /queue and history show. */
  take(): { item: QueueItem; taskId: number } | null {
    const item = heapPop(this.heap, runsBefore);
    if (!item) return null;
    const taskId = this.taskCounter++;
    this.running.set(taskId, structuredClone(item));
    this.changed();
    return { item, taskId };
  }

  /** Removes a finished task; `record` runs before the change is announced so history is in place first. */
  finish(taskId: number, record: (item: QueueItem) => void): void {
    const item = this.running.get(taskId);
    this.running.delete(taskId);
    if (item) record(item);
    this.changed();
  }

  /** The raw heap array: not sorted, exactly as GET /queue returns it. */
  pending(): QueueItem[] {
    return [...this.heap];
  }

  runningItems(): QueueItem[] {
    return [...this.running.values()];
  }

  clear(): void {
    this.heap = [];
    this.changed();
  }

  /** Removes the first pending item with this id. Deleting the last one announces the change twice, as ComfyUI does. */
  delete(promptId: string): boolean {
    const index = this.heap.findIndex((item) => item[1] === promptId);
    if (index < 0) return false;
    if (this.heap.length === 1) {
      this.clear();
    } else {
      this.heap.splice(index, 1);
      heapify(this.heap, runsBefore);
    }
    this.changed();
    return true;
  }

  /** Drops everything without announcing it (the process is going away). */
  reset(): void {
    this.heap = [];
    this.running.clear();
  }
}
