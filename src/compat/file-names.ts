// Output file names are only unique per backend. Every file reference this door shows carries a
// short, stable tag of its backend as the first subfolder segment, so GET /view can find the
// backend again from nothing but {filename, subfolder, type}.
import { createHash } from 'node:crypto';

const TAG = /^backend-[0-9a-f]{8}$/;

const tags = new Map<string, string>();

/** The tag of a backend URL; stable across restarts, so stored history keeps working. */
export function backendTag(url: string): string {
  let tag = tags.get(url);
  if (tag === undefined) tags.set(url, (tag = `backend-${createHash('sha256').update(url).digest('hex').slice(0, 8)}`));
  return tag;
}

export function isBackendTag(segment: string): boolean {
  return TAG.test(segment);
}

/** A backend's subfolder as this door's clients see it. */
export function tagSubfolder(subfolder: string, tag: string): string {
  return subfolder === '' ? tag : `${tag}/${subfolder}`;
}

/** A (normalised) subfolder a client sent back: its backend tag and the backend's own subfolder. */
export function untagSubfolder(subfolder: string): { tag: string; subfolder: string } | undefined {
  const slash = subfolder.indexOf('/');
  const first = slash < 0 ? subfolder : subfolder.slice(0, slash);
  if (!isBackendTag(first)) return undefined;
  return { tag: first, subfolder: slash < 0 ? '' : subfolder.slice(slash + 1) };
}

function isFileRef(item: unknown): item is Record<string, unknown> & { filename: string } {
  return typeof item === 'object' && item !== null && !Array.isArray(item) && typeof (item as { filename?: unknown }).filename === 'string';
}

/**
 * One node's UI output with every file reference ({filename, subfolder, type} in any list, so
 * custom nodes' keys too) moved under the backend's tag. Everything else is kept as it is.
 */
export function tagNodeOutput<T>(output: T, tag: string): T {
  if (typeof output !== 'object' || output === null || Array.isArray(output)) return output;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(output)) {
    out[key] = Array.isArray(value)
      ? value.map((item) =>
          isFileRef(item) ? { ...item, subfolder: tagSubfolder(typeof item.subfolder === 'string' ? item.subfolder : '', tag) } : item,
        )
      : value;
  }
  return out as T;
}

/** A history entry's `outputs` (node id → UI output) with every file reference tagged. */
export function tagOutputs(outputs: Record<string, unknown>, tag: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [node, output] of Object.entries(outputs)) out[node] = tagNodeOutput(output, tag);
  return out;
}
