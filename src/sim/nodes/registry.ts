// The node classes this backend knows, and their /object_info entries.
import { CheckpointLoaderSimple, CLIPTextEncode, EmptyLatentImage, KSampler, VAEDecode, VAEEncode } from './diffusion.js';
import { EmptyImage, ImageBlur, ImageInvert, ImageScale, LoadImage } from './image.js';
import { PreviewAny, PreviewImage, SaveImage } from './output.js';
import { TestSleep, TestSyncError } from './testing.js';
import type { NodeClass, NodeEnv } from './types.js';

const ALL: readonly NodeClass[] = [
  EmptyImage,
  LoadImage,
  ImageInvert,
  ImageScale,
  ImageBlur,
  SaveImage,
  PreviewImage,
  CheckpointLoaderSimple,
  CLIPTextEncode,
  EmptyLatentImage,
  KSampler,
  VAEDecode,
  VAEEncode,
  PreviewAny,
  TestSleep,
  TestSyncError,
];

/** Every node class the simulator can offer. */
export const NODE_CLASSES: readonly string[] = ALL.map((c) => c.name);

export class NodeRegistry {
  private classes = new Map(ALL.map((c) => [c.name, c]));

  /** A server without these classes (as a ComfyUI lacking a custom node pack); takes effect for the next prompt and /object_info. */
  constructor(missing: readonly string[] = []) {
    this.withhold(missing);
  }

  withhold(missing: readonly string[]): void {
    this.classes = new Map(ALL.filter((c) => !missing.includes(c.name)).map((c) => [c.name, c]));
  }

  get(name: unknown): NodeClass | undefined {
    return typeof name === 'string' ? this.classes.get(name) : undefined;
  }

  names(): string[] {
    return [...this.classes.keys()];
  }

  objectInfo(name: string, env: NodeEnv): Record<string, unknown> | null {
    const node = this.classes.get(name);
    if (!node) return null;
    const input = node.inputTypes(env);
    const inputOrder: Record<string, string[]> = {};
    for (const [key, value] of Object.entries(input)) inputOrder[key] = Object.keys(value as object);
    const info: Record<string, unknown> = {
      input,
      input_order: inputOrder,
      output: [...node.returnTypes],
      output_is_list: node.returnTypes.map(() => false),
      output_name: [...(node.returnNames ?? node.returnTypes)],
      name: node.name,
      display_name: node.displayName,
      description: node.description,
      python_module: node.pythonModule,
      category: node.category,
      output_node: node.outputNode,
    };
    if (node.outputTooltips) info.output_tooltips = [...node.outputTooltips];
    return info;
  }

  allObjectInfo(env: NodeEnv): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of this.classes.keys()) out[name] = this.objectInfo(name, env);
    return out;
  }
}
