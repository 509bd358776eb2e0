// The backend's input/, output/ and temp/ folders, held in memory.
import { posix } from 'node:path';
import type { ByteSegments } from './bytes.js';

export type FolderType = 'input' | 'output' | 'temp';
export const FOLDER_TYPES: readonly FolderType[] = ['input', 'output', 'temp'];

export interface StoredFile {
  readonly bytes: ByteSegments;
  readonly mtime: Date;
}

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

export class FileStore {
  private readonly folders: Record<FolderType, Map<string, StoredFile>> = {
    input: new Map(),
    output: new Map(),
    temp: new Map(),
  };

  get(type: FolderType, path: string): StoredFile | undefined {
    return this.folders[type].get(path);
  }

  has(type: FolderType, path: string): boolean {
    return this.folders[type].has(path);
  }

  put(type: FolderType, path: string, bytes: ByteSegments): void {
    this.folders[type].set(path, { bytes, mtime: new Date() });
  }

  /** Every file path in a folder, subfolders included, sorted. */
  paths(type: FolderType): string[] {
    return [...this.folders[type].keys()].sort();
  }

  /** File names directly inside one directory of a folder. */
  namesIn(type: FolderType, dir: string): string[] {
    const prefix = dir === '' ? '' : `${dir}/`;
    const out: string[] = [];
    for (const path of this.folders[type].keys()) {
      if (path.startsWith(prefix) && !path.slice(prefix.length).includes('/')) out.push(path.slice(prefix.length));
    }
    return out;
  }

  /** Whether a LoadImage-style (optionally annotated) name exists; unannotated names live in input/. */
  existsAnnotated(name: string): boolean {
    return this.getAnnotated(name) !== undefined;
  }

  getAnnotated(name: string): StoredFile | undefined {
    const parsed = annotatedName(name);
    const path = resolveInside(parsed.name);
    if (path === null || path === '') return undefined;
    return this.get(parsed.type ?? 'input', path);
  }

  /** ComfyUI empties temp/ at startup; input/ and output/ survive restarts. */
  clearTemp(): void {
    this.folders.temp.clear();
  }
}
