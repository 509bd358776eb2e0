// ComfyUI's classic execution cache: node outputs keyed by an input signature
// (class, literal inputs, IS_CHANGED, upstream signatures), UI results and node
// objects keyed by node id. Entries not used by the current prompt are dropped.
import { createHash } from 'node:crypto';
import type { NodeRegistry } from '../nodes/registry.js';
import type { NodeEnv } from '../nodes/types.js';
import { isPlainObject, pyJson } from '../../comfy/python.js';

export interface UiEntry {
  meta: { node_id: string; display_node: string; parent_node: null; real_node_id: string };
  output: Record<string, unknown[]>;
}

function nodeKey(id: string, classType: unknown): string {
  return `${id}\u0000${String(classType)}`;
}

function inputsOf(node: unknown): Record<string, unknown> {
  if (!isPlainObject(node) || !isPlainObject(node.inputs)) return {};
  return node.inputs;
}

export class ExecutionCache {
  private readonly outputs = new Map<string, unknown[]>();
  private readonly ui = new Map<string, UiEntry>();
  private readonly objects = new Map<string, Map<string, unknown>>();

  /** `enabled: false` behaves like --cache-none: nothing is reused across prompts. */
  constructor(private readonly enabled: boolean) {}

  /** What POST /free {free_memory} does between prompts. */
  reset(): void {
    this.outputs.clear();
    this.ui.clear();
    this.objects.clear();
  }

  /** Starts a prompt: computes signatures and drops entries this prompt cannot use. */
  bind(prompt: Record<string, unknown>, registry: NodeRegistry, env: NodeEnv): PromptCache {
    if (!this.enabled) this.reset();
    const signatures = computeSignatures(prompt, registry, env);
    const liveSignatures = new Set(signatures.values());
    const liveKeys = new Set(Object.entries(prompt).map(([id, node]) => nodeKey(id, isPlainObject(node) ? node.class_type : '')));
    for (const sig of this.outputs.keys()) if (!liveSignatures.has(sig)) this.outputs.delete(sig);
    for (const key of this.ui.keys()) if (!liveKeys.has(key)) this.ui.delete(key);
    for (const key of this.objects.keys()) if (!liveKeys.has(key)) this.objects.delete(key);
    return new PromptCache(prompt, signatures, this.outputs, this.ui, this.objects);
  }
}

function computeSignatures(prompt: Record<string, unknown>, registry: NodeRegistry, env: NodeEnv): Map<string, string> {
  const done = new Map<string, string>();
  const active = new Set<string>();
  const signature = (id: string): string => {
    const known = done.get(id);
    if (known) return known;
    if (active.has(id)) return 'cycle';
    active.add(id);
    const node = prompt[id] as Record<string, unknown>;
    const cls = registry.get(node.class_type);
    const inputs = inputsOf(node);
    const parts: unknown[] = [node.class_type];
    if (cls?.isChanged) {
      try {
        parts.push(cls.isChanged(inputs, env));
      } catch {
        parts.push(null);
      }
    }
    // Nodes that receive their own id (UNIQUE_ID) are never shared between node ids.
    if (cls && Object.values(cls.inputTypes(env).hidden ?? {}).includes('UNIQUE_ID')) parts.push(id);
    for (const name of Object.keys(inputs).sort()) {
      const value = inputs[name];
      const isLink = Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Object.hasOwn(prompt, value[0]);
      parts.push([name, isLink ? ['ANCESTOR', signature(value[0] as string), value[1]] : value]);
    }
    active.delete(id);
    const sig = createHash('sha1').update(pyJson(parts)).digest('hex');
    done.set(id, sig);
    return sig;
  };
  for (const id of Object.keys(prompt)) signature(id);
  return done;
}

/** The cache as seen by one prompt's execution. */
export class PromptCache {
  constructor(
    private readonly prompt: Record<string, unknown>,
    private readonly signatures: Map<string, string>,
    private readonly outputs: Map<string, unknown[]>,
    private readonly ui: Map<string, UiEntry>,
    private readonly objects: Map<string, Map<string, unknown>>,
  ) {}

  private key(id: string): string {
    const node = this.prompt[id];
    return nodeKey(id, isPlainObject(node) ? node.class_type : '');
  }

  hasOutputs(id: string): boolean {
    const sig = this.signatures.get(id);
    return sig !== undefined && this.outputs.has(sig);
  }

  getOutputs(id: string): unknown[] | undefined {
    const sig = this.signatures.get(id);
    return sig === undefined ? undefined : this.outputs.get(sig);
  }

  setOutputs(id: string, values: unknown[]): void {
    const sig = this.signatures.get(id);
    if (sig !== undefined) this.outputs.set(sig, values);
  }

  getUi(id: string): UiEntry | undefined {
    return this.ui.get(this.key(id));
  }

  setUi(id: string, entry: UiEntry): void {
    this.ui.set(this.key(id), entry);
  }

  /** The node's Python object state, created on first use. */
  instance(id: string): Map<string, unknown> {
    const key = this.key(id);
    let state = this.objects.get(key);
    if (!state) {
      state = new Map();
      this.objects.set(key, state);
    }
    return state;
  }

  /** UI results of every node in this prompt, which is what history records as outputs and meta. */
  uiEntries(): Array<[string, UiEntry]> {
    const out: Array<[string, UiEntry]> = [];
    for (const id of Object.keys(this.prompt)) {
      const entry = this.getUi(id);
      if (entry) out.push([id, entry]);
    }
    return out;
  }
}
