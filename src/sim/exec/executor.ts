// Runs one prompt the way execution.PromptExecutor does, emitting the same
// websocket messages in the same order to the same recipients.
import type { Clock } from '../clock.js';
import { BackendStopped } from '../clock.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { NodeClass, NodeContext, NodeEnv, NodeSettings } from '../nodes/types.js';
import { describe } from '../nodes/values.js';
import type { Rgb } from '../png.js';
import { previewPng } from '../png.js';
import type { QueueItem } from '../prompt-queue.js';
import { isPlainObject, pyJson, PyError } from '../../comfy/python.js';
import type { Recipient, WsHub } from '../ws-hub.js';
import type { ExecutionCache, PromptCache } from './cache.js';
import { ExecutionList } from './execution-list.js';
import { ProgressTracker } from './progress.js';

/** Binary websocket event types from protocol.py. */
export const BinaryEvent = { PREVIEW_IMAGE: 1, TEXT: 3, PREVIEW_IMAGE_WITH_METADATA: 4 } as const;
const PNG_FORMAT = 2;

export interface ExecutorSettings extends NodeSettings {
  readonly previews: boolean;
}

/** The global interrupt flag (nodes.interrupt_processing). */
export interface InterruptFlag {
  requested: boolean;
}

export interface ExecutionOutcome {
  status: 'success' | 'error' | 'interrupted';
  outputs: Record<string, unknown>;
  meta: Record<string, unknown>;
  messages: Array<[string, Record<string, unknown>]>;
}

class Interrupted extends Error {}

interface NodeFailure {
  nodeId: string;
  interrupted: boolean;
  error?: PyError;
  currentInputs?: Record<string, unknown[]>;
}

/** format_value: plain values pass through, anything else becomes its str(). */
function formatValue(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return describe(value);
}

/** Normalises extra_data.client_id: absent or null means "no client"; a non-string id matches no socket. */
function clientOf(extraData: Record<string, unknown>): Recipient {
  if (!Object.hasOwn(extraData, 'client_id')) return null;
  const id = extraData.client_id;
  if (id === null || id === undefined) return null;
  return typeof id === 'string' ? id : `\u0000${pyJson(id)}`;
}

export interface ExecutorDeps {
  registry: NodeRegistry;
  env: NodeEnv;
  hub: WsHub;
  clock: Clock;
  cache: ExecutionCache;
  interrupt: InterruptFlag;
  settings: () => ExecutorSettings;
}

export class PromptExecutor {
  /** The server-wide "current client": the running prompt's client_id. */
  clientId: Recipient = null;
  /** The node last announced with `executing`, replayed to a reconnecting client. */
  lastNodeId: string | null = null;

  constructor(private readonly deps: ExecutorDeps) {}

  async execute(item: QueueItem): Promise<ExecutionOutcome> {
    const [, promptId, prompt, extraData, outputsToRun] = item;
    const { hub, registry, env } = this.deps;
    this.deps.interrupt.requested = false;
    this.clientId = clientOf(extraData);
    const messages: ExecutionOutcome['messages'] = [];
    const addMessage = (event: string, data: Record<string, unknown>, broadcast: boolean) => {
      const stamped = { ...data, timestamp: Date.now() };
      messages.push([event, stamped]);
      if (this.clientId !== null || broadcast) hub.send(event, stamped, this.clientId);
    };

    addMessage('execution_start', { prompt_id: promptId }, false);
    const cache = this.deps.cache.bind(prompt, registry, env);
    const progress = new ProgressTracker(promptId, (snapshot) => hub.send('progress_state', snapshot, this.clientId));
    const cachedNodes = Object.keys(prompt).filter((id) => cache.hasOutputs(id));
    addMessage('execution_cached', { nodes: cachedNodes, prompt_id: promptId }, false);

    const list = new ExecutionList(prompt, registry, (id) => cache.hasOutputs(id));
    for (const id of outputsToRun) list.addNode(id);
    // ComfyUI reports every node id of the prompt here, not only those with cached outputs.
    const currentOutputs = Object.keys(prompt);
    const executed: string[] = [];
    let status: ExecutionOutcome['status'] = 'success';

    while (!list.isEmpty()) {
      const nodeId = list.next();
      let failure: NodeFailure | null;
      if (nodeId === null) {
        const blamed = list.remaining()[0]!;
        failure = { nodeId: blamed, interrupted: false, error: new PyError('graph.DependencyCycleError', 'Dependency cycle detected'), currentInputs: {} };
      } else {
        failure = await this.runNode(nodeId, promptId, item, cache, progress, executed);
      }
      if (failure) {
        const node = prompt[failure.nodeId] as Record<string, unknown>;
        const base = { prompt_id: promptId, node_id: failure.nodeId, node_type: node.class_type, executed: [...executed] };
        if (failure.interrupted) {
          status = 'interrupted';
          addMessage('execution_interrupted', base, true);
        } else {
          status = 'error';
          addMessage(
            'execution_error',
            {
              ...base,
              exception_message: `${failure.error!.message}\n`,
              exception_type: failure.error!.pyType,
              traceback: failure.error!.traceback,
              current_inputs: failure.currentInputs ?? {},
              current_outputs: currentOutputs,
            },
            false,
          );
        }
        break;
      }
      list.complete(nodeId!);
    }
    if (status === 'success') addMessage('execution_success', { prompt_id: promptId }, false);

    const outputs: Record<string, unknown> = {};
    const meta: Record<string, unknown> = {};
    for (const [id, entry] of cache.uiEntries()) {
      outputs[id] = entry.output;
      meta[id] = entry.meta;
    }
    this.lastNodeId = null;
    return { status, outputs, meta, messages };
  }

  private async runNode(
    nodeId: string,
    promptId: string,
    item: QueueItem,
    cache: PromptCache,
    progress: ProgressTracker,
    executed: string[],
  ): Promise<NodeFailure | null> {
    const { hub, registry, env, clock } = this.deps;
    const prompt = item[2];
    const node = prompt[nodeId] as Record<string, unknown>;
    const cls = registry.get(node.class_type)!;

    if (cache.hasOutputs(nodeId)) {
      // A cached output node re-announces its cached UI result; it is not executed again.
      if (this.clientId !== null) {
        hub.send('executed', { node: nodeId, display_node: nodeId, output: cache.getUi(nodeId)?.output ?? null, prompt_id: promptId }, this.clientId);
      }
      progress.finish(nodeId);
      return null;
    }

    progress.start(nodeId);
    const inputs = this.resolveInputs(cls, node, cache);
    const hidden = this.hiddenInputs(cls, nodeId, item);
    if (this.clientId !== null) {
      this.lastNodeId = nodeId;
      hub.send('executing', { node: nodeId, display_node: nodeId, prompt_id: promptId }, this.clientId);
    }

    const settings = this.deps.settings();
    const ctx: NodeContext = {
      nodeId,
      promptId,
      prompt,
      extraPngInfo: item[3].extra_pnginfo,
      env,
      settings,
      instance: cache.instance(nodeId),
      work: (ms) => clock.sleep(ms),
      progress: async (value, max, preview) => this.reportProgress(nodeId, promptId, progress, value, max, preview),
    };

    try {
      this.checkInterrupt();
      if (!cls.selfTimed) await clock.sleep(settings.nodeMs);
      const result = await cls.run(ctx, inputs);
      if (result.ui && Object.keys(result.ui).length > 0) {
        cache.setUi(nodeId, {
          meta: { node_id: nodeId, display_node: nodeId, parent_node: null, real_node_id: nodeId },
          output: result.ui,
        });
        if (this.clientId !== null) {
          hub.send('executed', { node: nodeId, display_node: nodeId, output: result.ui, prompt_id: promptId }, this.clientId);
        }
      }
      cache.setOutputs(nodeId, result.outputs);
    } catch (ex) {
      if (ex instanceof Interrupted) return { nodeId, interrupted: true };
      if (ex instanceof BackendStopped) throw ex;
      const error = ex instanceof PyError ? ex : new PyError('Exception', ex instanceof Error ? ex.message : String(ex));
      const currentInputs: Record<string, unknown[]> = {};
      for (const [name, value] of Object.entries({ ...inputs, ...hidden })) currentInputs[name] = [formatValue(value)];
      return { nodeId, interrupted: false, error, currentInputs };
    }
    progress.finish(nodeId);
    executed.push(nodeId);
    return null;
  }

  private checkInterrupt(): void {
    if (this.deps.interrupt.requested) throw new Interrupted();
  }

  /** The progress-bar hook: interrupt check, progress_state, preview (type 4 before, type 1 after), progress. */
  private reportProgress(nodeId: string, promptId: string, progress: ProgressTracker, value: number, max: number, preview?: Rgb): void {
    const { hub } = this.deps;
    this.checkInterrupt();
    progress.update(nodeId, value, max);
    const image = preview && this.deps.settings().previews ? previewPng(preview) : null;
    const withMetadata = hub.supportsPreviewMetadata(this.clientId);
    if (image && withMetadata) {
      const metadata = Buffer.from(
        pyJson({
          node_id: nodeId,
          prompt_id: promptId,
          display_node_id: nodeId,
          parent_node_id: null,
          real_node_id: nodeId,
          image_type: 'image/png',
        }),
      );
      const length = Buffer.alloc(4);
      length.writeUInt32BE(metadata.length, 0);
      hub.sendBinary(BinaryEvent.PREVIEW_IMAGE_WITH_METADATA, Buffer.concat([length, metadata, image]), this.clientId);
    }
    hub.send('progress', { value, max, prompt_id: promptId, node: nodeId }, this.clientId);
    if (image && !withMetadata) {
      const format = Buffer.alloc(4);
      format.writeUInt32BE(PNG_FORMAT, 0);
      hub.sendBinary(BinaryEvent.PREVIEW_IMAGE, Buffer.concat([format, image]), this.clientId);
    }
  }

  /** get_input_data: declared literals and every link, resolved against cached outputs. */
  private resolveInputs(cls: NodeClass, node: Record<string, unknown>, cache: PromptCache): Record<string, unknown> {
    const types = cls.inputTypes(this.deps.env);
    const declared = new Set([...Object.keys(types.required), ...Object.keys(types.optional ?? {})]);
    const raw = isPlainObject(node.inputs) ? node.inputs : {};
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(raw)) {
      if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number') {
        const produced = cache.getOutputs(value[0]);
        if (produced) out[name] = produced.at(value[1]);
      } else if (declared.has(name)) {
        out[name] = value;
      }
    }
    return out;
  }

  private hiddenInputs(cls: NodeClass, nodeId: string, item: QueueItem): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, kind] of Object.entries(cls.inputTypes(this.deps.env).hidden ?? {})) {
      if (kind === 'PROMPT') out[name] = item[2];
      else if (kind === 'EXTRA_PNGINFO') out[name] = item[3].extra_pnginfo ?? null;
      else if (kind === 'UNIQUE_ID') out[name] = nodeId;
    }
    return out;
  }
}
