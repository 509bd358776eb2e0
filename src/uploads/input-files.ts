// Where the input files a job refers to come from when it is sent to a backend.
// A job lists input references (the exact strings its prompt uses); a source turns each into
// bytes and the name and subfolder to upload it under.
import { UploadStore } from './store.js';

export interface InputFile {
  bytes: Buffer;
  filename: string;
  subfolder: string;
}

export interface InputSource {
  /** True when this source owns the reference. */
  owns(ref: string): boolean;
  read(ref: string): Promise<InputFile>;
  /** The job that used it is finished and no other unfinished job refers to it. */
  release?(ref: string): Promise<void>;
}

/** Curated uploads: references are the names POST /upload returned. */
export function curatedInputs(store: UploadStore): InputSource {
  return {
    owns: (ref) => UploadStore.isName(ref),
    read: async (ref) => ({ bytes: await store.read(ref), filename: ref, subfolder: '' }),
    release: (ref) => store.remove(ref),
  };
}

/** Routes each reference to the first source that owns it. */
export class InputFiles {
  private readonly sources: InputSource[] = [];

  add(source: InputSource): void {
    this.sources.push(source);
  }

  private sourceOf(ref: string): InputSource | undefined {
    return this.sources.find((s) => s.owns(ref));
  }

  async read(ref: string): Promise<InputFile> {
    const source = this.sourceOf(ref);
    if (!source) throw new Error(`no stored input file ${ref}`);
    return source.read(ref);
  }

  async release(ref: string): Promise<void> {
    await this.sourceOf(ref)?.release?.(ref);
  }
}
