// Finished prompts, oldest first, as GET/POST /history serve them.
import type { QueueItem } from './prompt-queue.js';

export interface HistoryStatus {
  status_str: 'success' | 'error';
  completed: boolean;
  messages: Array<[string, Record<string, unknown>]>;
}

export interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, unknown>;
  status: HistoryStatus;
  meta: Record<string, unknown>;
}

export const MAX_HISTORY = 10000;

export class History {
  private readonly entries = new Map<string, HistoryEntry>();

  /** A repeated prompt_id overwrites the earlier entry in place. */
  add(entry: HistoryEntry): void {
    if (this.entries.size > MAX_HISTORY) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(entry.prompt[1], entry);
  }

  get(promptId: string): Record<string, HistoryEntry> {
    const entry = this.entries.get(promptId);
    return entry ? { [promptId]: entry } : {};
  }

  /** get_history's paging: max_items alone means the newest N; offset counts from the oldest. */
  list(maxItems: number | null, offset: number): Record<string, HistoryEntry> {
    const out: Record<string, HistoryEntry> = {};
    if (offset < 0 && maxItems !== null) offset = this.entries.size - maxItems;
    let i = 0;
    let count = 0;
    for (const [id, entry] of this.entries) {
      if (i >= offset) {
        out[id] = entry;
        count++;
        if (maxItems !== null && count >= maxItems) break;
      }
      i++;
    }
    return out;
  }

  clear(): void {
    this.entries.clear();
  }

  delete(promptId: string): void {
    this.entries.delete(promptId);
  }
}
