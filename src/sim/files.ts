// The backend's input/, output/ and temp/ folders, held in memory.
import { annotatedName, resolveInside } from '../comfy/file-names.js';
import type { FolderType } from '../comfy/file-names.js';
import type { ByteSegments } from './bytes.js';

export interface StoredFile {
  readonly bytes: ByteSegments;
  readonly mtime: Date;
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
