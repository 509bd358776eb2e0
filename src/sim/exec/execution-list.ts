// The order in which nodes run: a topological dissolve of the needed part of
// the graph, picking nodes the way ComfyUI's ux_friendly_pick_node does.
import type { NodeRegistry } from '../nodes/registry.js';
import { isPlainObject } from '../../comfy/python.js';

function linkOf(value: unknown): [string, number] | null {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number'
    ? [value[0], value[1]]
    : null;
}

export class ExecutionList {
  /** Insertion-ordered, like the Python dict the ready list is read from. */
  private readonly pending = new Map<string, true>();
  private readonly blockCount = new Map<string, number>();
  private readonly blocking = new Map<string, Set<string>>();

  constructor(
    private readonly prompt: Record<string, unknown>,
    private readonly registry: NodeRegistry,
    private readonly isCached: (id: string) => boolean,
  ) {}

  isEmpty(): boolean {
    return this.pending.size === 0;
  }

  private inputs(id: string): Record<string, unknown> {
    const node = this.prompt[id];
    return isPlainObject(node) && isPlainObject(node.inputs) ? node.inputs : {};
  }

  /** Adds a node and, depth first, every uncached node it needs. */
  addNode(id: string): void {
    const stack = [id];
    const links: Array<[string, string]> = [];
    while (stack.length > 0) {
      const current = stack.pop()!;
      if (this.pending.has(current)) continue;
      this.pending.set(current, true);
      this.blockCount.set(current, 0);
      this.blocking.set(current, new Set());
      for (const value of Object.values(this.inputs(current))) {
        const link = linkOf(value);
        if (!link || !Object.hasOwn(this.prompt, link[0]) || this.isCached(link[0])) continue;
        stack.push(link[0]);
        links.push([link[0], current]);
      }
    }
    for (const [from, to] of links) {
      const blocked = this.blocking.get(from)!;
      if (!blocked.has(to)) {
        blocked.add(to);
        this.blockCount.set(to, this.blockCount.get(to)! + 1);
      }
    }
  }

  private isOutput(id: string): boolean {
    const node = this.prompt[id];
    return isPlainObject(node) && this.registry.get(node.class_type)?.outputNode === true;
  }

  private isAsync(id: string): boolean {
    const node = this.prompt[id];
    return isPlainObject(node) && this.registry.get(node.class_type)?.isAsync === true;
  }

  /** The next node to run, or null when what is left is blocked by a cycle. */
  next(): string | null {
    const ready = [...this.pending.keys()].filter((id) => this.blockCount.get(id) === 0);
    if (ready.length === 0) return null;
    // Output and async nodes first, then nodes one or two hops before an output.
    const direct = ready.find((id) => this.isOutput(id) || this.isAsync(id));
    if (direct) return direct;
    const oneHop = ready.find((id) => [...this.blocking.get(id)!].some((b) => this.isOutput(b)));
    if (oneHop) return oneHop;
    const twoHops = ready.find((id) =>
      [...this.blocking.get(id)!].some((b) => [...(this.blocking.get(b) ?? [])].some((c) => this.isOutput(c))),
    );
    return twoHops ?? ready[0]!;
  }

  /** Remaining node ids (used to blame a cycle). */
  remaining(): string[] {
    return [...this.pending.keys()];
  }

  complete(id: string): void {
    this.pending.delete(id);
    for (const blocked of this.blocking.get(id) ?? []) this.blockCount.set(blocked, this.blockCount.get(blocked)! - 1);
    this.blocking.delete(id);
  }
}
