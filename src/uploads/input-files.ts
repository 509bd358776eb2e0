// Where the input files a job refers to come from when it is sent to a backend.
// A job lists input references (the exact strings its prompt uses); a source turns each into
// bytes and the name and subfolder to upload it under.
import { UploadStore } from './store.js';
import { backendInputFolder } from '../engine/tenants.js';

export interface InputFile {
  bytes: Buffer;
  filename: string;
  subfolder: string;
}

/**
 * A reference is always read within a tenant's files: the same name in another tenant's space
 * is another file.
 */
export interface InputSource {
  /** True when this source owns the reference. */
  owns(ref: string, tenant: string): boolean;
  read(ref: string, tenant: string): Promise<InputFile>;
  /** The job that used it is finished and no other unfinished job refers to it. */
  release?(ref: string, tenant: string): Promise<void>;
}

/** Curated uploads: references are the names POST /upload returned. */
export function curatedInputs(store: UploadStore): InputSource {
  return {
    owns: (ref) => UploadStore.isName(ref),
    read: async (ref, tenant) => ({ bytes: await store.read(ref, tenant), filename: ref, subfolder: backendInputFolder(tenant) }),
    release: (ref, tenant) => store.remove(ref, tenant),
  };
}

/** Routes each reference to the first source that owns it. */
export class InputFiles {
  private readonly sources: InputSource[] = [];

  add(source: InputSource): void {
    this.sources.push(source);
  }

  private sourceOf(ref: string, tenant: string): InputSource | undefined {
    return this.sources.find((s) => s.owns(ref, tenant));
  }

  async read(ref: string, tenant = ''): Promise<InputFile> {
    const source = this.sourceOf(ref, tenant);
    if (!source) throw new Error(`no stored input file ${ref}`);
    return source.read(ref, tenant);
  }

  async release(ref: string, tenant = ''): Promise<void> {
    await this.sourceOf(ref, tenant)?.release?.(ref, tenant);
  }
}
