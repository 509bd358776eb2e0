// Asset references inside an API-format graph: where a file name would go, a workflow puts
//   {"__type": "core/ASSET", "info": {"id": "<asset id>", "hash"?: "blake3:…", "file_path"?: "…"}}
// `info.id` is required and decides; `hash` and `file_path` are hints that never override it.
import { isPlainObject } from '../workflows/graph.js';

export const ASSET_TYPE = 'core/ASSET';

/** One reference found in a graph: where it is, and the id it names (absent when malformed). */
export interface AssetReference {
  node: string;
  input: string;
  id?: string;
}

/** Is this input value meant as an asset reference (well-formed or not)? */
export function isAssetReference(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && value.__type === ASSET_TYPE;
}

/** The id a reference names, or undefined when it is malformed. */
function idOf(value: Record<string, unknown>): string | undefined {
  const info = value.info;
  if (!isPlainObject(info) || typeof info.id !== 'string' || info.id === '' || info.id.length > 200) return undefined;
  return info.id;
}

/** Every asset reference among the nodes' input values, in graph order. */
export function assetReferencesIn(graph: Record<string, unknown>): AssetReference[] {
  const found: AssetReference[] = [];
  for (const [node, value] of Object.entries(graph)) {
    if (!isPlainObject(value) || !isPlainObject(value.inputs)) continue;
    for (const [input, v] of Object.entries(value.inputs)) {
      if (!isAssetReference(v)) continue;
      const id = idOf(v);
      found.push({ node, input, ...(id !== undefined && { id }) });
    }
  }
  return found;
}

/** A copy of the graph with each reference replaced by the string `valueOf` gives for its id. */
export function replaceAssetReferences<T extends Record<string, unknown>>(graph: T, valueOf: (id: string) => string): T {
  const copy = structuredClone(graph);
  for (const value of Object.values(copy)) {
    if (!isPlainObject(value) || !isPlainObject(value.inputs)) continue;
    const inputs = value.inputs;
    for (const [input, v] of Object.entries(inputs)) {
      if (!isAssetReference(v)) continue;
      const id = idOf(v);
      if (id !== undefined) inputs[input] = valueOf(id);
    }
  }
  return copy;
}
