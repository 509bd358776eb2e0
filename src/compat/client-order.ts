// One prompt at a time per client, as a single ComfyUI shows it. ComfyUI runs one prompt after
// another, so a client never sees two prompts' messages mixed, and libraries that wait for
// `execution_success` without reading its prompt_id rely on that. The bridge runs a client's
// prompts side by side on several backends; this policy decides which of them may talk now and
// holds the others' messages until every prompt ahead of them has said its last. Pure: the relay
// feeds it and writes what it gives back.
//
// Order. A client's unfinished prompts are kept in queue order (tier, priority, then admission), the
// order in which the bridge starts them. The first one (the head) is delivered live; the others
// are held. The head stays first once it has delivered anything; until then a prompt admitted
// ahead of it (a `front` one) takes its place. When the head ends, the next prompts' held
// messages follow at once, and any of them that already ended is passed over in turn.
//
// A prompt that ends without a word (deleted before it started, forgotten) releases the ones
// behind it just the same. A prompt the policy was never told of is passed straight through.
//
// Memory. Nothing is held for a client with no socket (ComfyUI drops what a disconnected client
// misses), and a client's held messages are dropped when its socket goes. For a connected client
// a held prompt keeps every message it must see (start, executing, executed, its end, anything
// unknown), but only the latest of each superseded kind: one preview per prompt, and one progress
// (per node) or progress snapshot per run of such messages between two that must be seen.

/** How a held item may be thinned: the latest of a slot replaces the earlier one. */
export interface Supersede {
  slot: string;
  /** 'prompt': anywhere in the prompt's held messages; 'run': only since its last must-see one. */
  scope: 'prompt' | 'run';
}

export interface Outgoing<C, T> {
  client: C;
  promptId: string;
  item: T;
}

interface Held<T> {
  item: T;
  supersede?: Supersede;
}

interface Entry<C, T> {
  id: string;
  client: C;
  key: string;
  priority: number;
  /** Its tier's rank (0 runs first): a client's prompts of a higher tier run before its others. */
  tier: number;
  admitted: number;
  /** Something of it has gone out: it keeps its place at the head. */
  live: boolean;
  ended: boolean;
  held: Held<T>[];
}

export class ClientOrder<C, T> {
  /** Each client's unfinished prompts, in queue order. */
  private readonly lines = new Map<string, Entry<C, T>[]>();
  private readonly entries = new Map<string, Entry<C, T>>();
  private admissions = 0;

  constructor(
    private readonly keyOf: (client: C) => string,
    /** Whether the client has a socket now: nothing is held for one that has none. */
    private readonly connected: (client: C) => boolean,
  ) {}

  /** A new prompt of a client, with its queue priority and tier rank (lower runs first). Again is a no-op. */
  admit(client: C, promptId: string, priority: number, tier = 1): void {
    if (this.entries.has(promptId)) return;
    const key = this.keyOf(client);
    const entry: Entry<C, T> = { id: promptId, client, key, priority, tier, admitted: this.admissions++, live: false, ended: false, held: [] };
    this.entries.set(promptId, entry);
    let line = this.lines.get(key);
    if (!line) this.lines.set(key, (line = []));
    // After every prompt of the same or better priority, and never ahead of a head that talks.
    let i = line.length;
    const later = (e: Entry<C, T>) => e.tier > tier || (e.tier === tier && e.priority > priority);
    while (i > 0 && later(line[i - 1]) && !(i === 1 && line[0].live)) i--;
    line.splice(i, 0, entry);
  }

  /** The prompt that may talk to this client now. */
  head(client: C): string | undefined {
    return this.lines.get(this.keyOf(client))?.[0]?.id;
  }

  /** Held messages of a client, over all its prompts. */
  heldCount(client: C): number {
    return (this.lines.get(this.keyOf(client)) ?? []).reduce((n, e) => n + e.held.length, 0);
  }

  /** A message of a client's prompt: what goes out now (it, or nothing while it is held). */
  send(client: C, promptId: string, item: T, supersede?: Supersede): Outgoing<C, T>[] {
    const entry = this.entries.get(promptId);
    if (!entry) return [{ client, promptId, item }];
    if (this.isHead(entry)) {
      entry.live = true;
      return [{ client: entry.client, promptId, item }];
    }
    this.hold(entry, item, supersede);
    return [];
  }

  /**
   * A prompt's last messages (none when it ends without a word). Its place is given up, so the
   * answer may go on with prompts that were waiting behind it.
   */
  end(client: C, promptId: string, last: readonly T[] = []): Outgoing<C, T>[] {
    const entry = this.entries.get(promptId);
    if (!entry) return last.map((item) => ({ client, promptId, item }));
    if (!this.isHead(entry)) {
      for (const item of last) this.hold(entry, item);
      entry.ended = true;
      return [];
    }
    const out = last.map((item) => ({ client: entry.client, promptId, item }));
    this.remove(entry);
    return out.concat(this.advance(entry.key));
  }

  /** A prompt gone without a word (e.g. forgotten): the ones behind it go on. */
  forget(promptId: string): Outgoing<C, T>[] {
    const entry = this.entries.get(promptId);
    return entry ? this.end(entry.client, promptId) : [];
  }

  /** The client's socket went: what it was held for is dropped; its prompts keep their order. */
  disconnected(client: C): void {
    for (const entry of this.lines.get(this.keyOf(client)) ?? []) entry.held = [];
  }

  /** Prompts admitted whose end has not been told: a caller can check none was missed. */
  *unended(): IterableIterator<string> {
    for (const entry of this.entries.values()) if (!entry.ended) yield entry.id;
  }

  /** Whether the policy knows this prompt (it was admitted and has not ended its turn). */
  has(promptId: string): boolean {
    return this.entries.has(promptId);
  }

  private isHead(entry: Entry<C, T>): boolean {
    return this.lines.get(entry.key)?.[0] === entry;
  }

  private hold(entry: Entry<C, T>, item: T, supersede?: Supersede): void {
    if (!this.connected(entry.client)) return;
    const { held } = entry;
    if (supersede) {
      for (let j = held.length - 1; j >= 0; j--) {
        const other = held[j].supersede;
        if (!other && supersede.scope === 'run') break;
        if (other?.slot === supersede.slot) {
          held.splice(j, 1);
          break;
        }
      }
    }
    held.push({ item, ...(supersede && { supersede }) });
  }

  private remove(entry: Entry<C, T>): void {
    this.entries.delete(entry.id);
    const line = this.lines.get(entry.key);
    if (!line) return;
    const i = line.indexOf(entry);
    if (i >= 0) line.splice(i, 1);
    if (line.length === 0) this.lines.delete(entry.key);
  }

  /** The new head's held messages; on through every prompt that already ended. */
  private advance(key: string): Outgoing<C, T>[] {
    const out: Outgoing<C, T>[] = [];
    for (let head = this.lines.get(key)?.[0]; head; head = this.lines.get(key)?.[0]) {
      if (head.held.length > 0) head.live = true;
      for (const { item } of head.held) out.push({ client: head.client, promptId: head.id, item });
      head.held = [];
      if (!head.ended) break;
      this.remove(head);
    }
    return out;
  }
}
