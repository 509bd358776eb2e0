// Per-prompt node progress, sent as progress_state snapshots of every node
// that has started (comfy_execution/progress.py).

type NodeState = 'running' | 'finished';

interface NodeProgress {
  state: NodeState;
  value: number;
  max: number;
}

export class ProgressTracker {
  private readonly nodes = new Map<string, NodeProgress>();

  constructor(
    private readonly promptId: string,
    private readonly publish: (snapshot: Record<string, unknown>) => void,
  ) {}

  start(id: string): void {
    this.nodes.set(id, { state: 'running', value: 0, max: 1 });
    this.send();
  }

  update(id: string, value: number, max: number): void {
    this.nodes.set(id, { state: 'running', value, max });
    this.send();
  }

  finish(id: string): void {
    const entry = this.nodes.get(id) ?? { state: 'finished', value: 0, max: 1 };
    this.nodes.set(id, { state: 'finished', value: entry.max, max: entry.max });
    this.send();
  }

  private send(): void {
    const nodes: Record<string, unknown> = {};
    for (const [id, p] of this.nodes) {
      nodes[id] = {
        value: p.value,
        max: p.max,
        state: p.state,
        node_id: id,
        prompt_id: this.promptId,
        display_node_id: id,
        parent_node_id: null,
        real_node_id: id,
      };
    }
    this.publish({ prompt_id: this.promptId, nodes });
  }
}
