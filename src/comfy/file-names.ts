// How ComfyUI names files in its input/, output/ and temp/ folders: the folder types, the
// " [output]" annotation on a LoadImage-style name, and paths that must stay inside a folder.
import { posix } from 'node:path';

export type FolderType = 'input' | 'output' | 'temp';
export const FOLDER_TYPES: readonly FolderType[] = ['input', 'output', 'temp'];

const ROOT = '/__root__';

/**
 * Joins path parts below a folder root the way os.path.join + abspath would,
 * and returns the path relative to the root, or null when it escapes the root.
 * An absolute part replaces everything before it, as in Python.
 */
export function resolveInside(...parts: string[]): string | null {
  const full = posix.resolve(ROOT, ...parts);
  if (full === ROOT) return '';
  if (!full.startsWith(`${ROOT}/`)) return null;
  return full.slice(ROOT.length + 1);
}

export function isFolderType(value: unknown): value is FolderType {
  return value === 'input' || value === 'output' || value === 'temp';
}

/** Splits a trailing " [output]" / " [input]" / " [temp]" annotation off a file name. */
export function annotatedName(name: string): { name: string; type: FolderType | null } {
  for (const type of FOLDER_TYPES) {
    const tag = `[${type}]`;
    if (name.endsWith(tag)) return { name: name.slice(0, -(tag.length + 1)), type };
  }
  return { name, type: null };
}
