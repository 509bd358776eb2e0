// What a simulated node class is: its /object_info schema, its validation
// hooks and the coroutine that "runs" it against fake tensors.
import type { InputTypes } from '../../comfy/object-info.js';
import type { FileStore } from '../files.js';
import type { Rgb } from '../png.js';
import type { ModelMemory } from '../model-memory.js';

export type { InputSpec, InputTypes } from '../../comfy/object-info.js';

/** What validation and schemas may look at on this backend. */
export interface NodeEnv {
  readonly checkpoints: readonly string[];
  /** Checkpoints loaded now: loading another takes time. */
  readonly models?: ModelMemory;
  readonly files: FileStore;
}

export interface NodeSettings {
  readonly stepMs: number;
  readonly nodeMs: number;
  readonly outputBytes: number;
}

export interface NodeContext {
  readonly nodeId: string;
  readonly promptId: string;
  /** The hidden PROMPT input: the whole graph being executed. */
  readonly prompt: Record<string, unknown>;
  /** The hidden EXTRA_PNGINFO input. */
  readonly extraPngInfo: unknown;
  readonly env: NodeEnv;
  readonly settings: NodeSettings;
  /** State of this node's Python object, which ComfyUI keeps while the node id stays in the graph. */
  readonly instance: Map<string, unknown>;
  /** Simulated busy time (before speed scaling). */
  work(ms: number): Promise<void>;
  /** A progress-bar update: checks for interrupts, then sends progress (and a preview in the given colour). */
  progress(value: number, max: number, preview?: Rgb): Promise<void>;
}

export interface NodeResult {
  outputs: unknown[];
  ui?: Record<string, unknown[]>;
}

export interface NodeClass {
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  readonly category: string;
  readonly pythonModule: string;
  readonly outputNode: boolean;
  readonly returnTypes: readonly string[];
  readonly returnNames?: readonly string[];
  readonly outputTooltips?: readonly (string | null)[];
  /** Async nodes are started before others, as ComfyUI's scheduler does. */
  readonly isAsync?: boolean;
  /** The node accounts for its own duration instead of taking the default node time. */
  readonly selfTimed?: boolean;
  inputTypes(env: NodeEnv): InputTypes;
  /** Inputs handed to the VALIDATE_INPUTS hook; they skip the generic range and combo checks. */
  readonly validateArgs?: readonly string[];
  validateInputs?(args: Record<string, unknown>, env: NodeEnv): true | string;
  /** IS_CHANGED: part of the cache key. */
  isChanged?(inputs: Record<string, unknown>, env: NodeEnv): string;
  run(ctx: NodeContext, inputs: Record<string, unknown>): Promise<NodeResult>;
}

/** ComfyUI's MAX_RESOLUTION. */
export const MAX_RESOLUTION = 16384;
