// Files this door's clients upload (POST /upload/image, /upload/mask), kept at the bridge under
// <UPLOAD_DIR>/comfy/<type>/ (a tenant's under <UPLOAD_DIR>/tenants/<name>/comfy/<type>/) and sent
// to whichever backend runs a prompt of that tenant that names them.
//
// A prompt names a file the way LoadImage expects: "name.png", "sub/dir/name.png", or with a
// " [temp]" / " [output]" annotation for the other folders. ComfyUI keeps input files, so this
// store never deletes anything on its own.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { InputFile, InputSource } from '../uploads/input-files.js';
import { annotatedName, isFolderType, resolveInside } from '../comfy/file-names.js';
import type { FolderType } from '../comfy/file-names.js';
import { pySplitext } from '../comfy/python.js';
import { backendInputFolder, tenantDir } from '../engine/tenants.js';

export type { FolderType };

/** A stored file: its folder and its path inside it ("sub/name.png"). */
export interface StoredRef {
  type: FolderType;
  path: string;
}

/** What POST /upload/image answers. */
export interface Uploaded {
  name: string;
  subfolder: string;
  type: FolderType;
}

export class UploadRefused extends Error {}

/** A prompt value → the file it names (no annotation means input/); undefined if it leaves its folder. */
export function parseRef(ref: string): StoredRef | undefined {
  const { name, type } = annotatedName(ref);
  const inside = resolveInside(name);
  if (inside === null || inside === '') return undefined;
  return { type: type ?? 'input', path: inside };
}

/**
 * Where the file goes on a backend (always its input/ folder, which LoadImage reads). Files
 * uploaded as temp or output get a subfolder of their own, so they cannot clash with inputs.
 */
export function backendPlacement(stored: StoredRef, tenant = ''): { filename: string; subfolder: string } {
  const dir = path.posix.dirname(stored.path);
  const sub = dir === '.' ? '' : dir;
  const prefix = stored.type === 'input' ? '' : `bridge-${stored.type}`;
  return { filename: path.posix.basename(stored.path), subfolder: [backendInputFolder(tenant), prefix, sub].filter(Boolean).join('/') };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fs.stat(a), fs.stat(b)]);
  if (sa.size !== sb.size) return false;
  const [ha, hb] = await Promise.all([sha256(a), sha256(b)]);
  return ha === hb;
}

export class ComfyInputs implements InputSource {
  private readonly uploadDir: string;
  /** Where uploads are received before they get their name. */
  readonly incomingDir: string;
  /** "tenant\ntype/path" of every stored file: `owns` is asked synchronously at dispatch. */
  private readonly index = new Set<string>();
  /** Name choice and placement happen one upload at a time, so two clients never get one name. */
  private placing: Promise<unknown> = Promise.resolve();

  private constructor(uploadDir: string) {
    this.uploadDir = path.resolve(uploadDir);
    this.incomingDir = path.join(this.rootOf(''), '.incoming');
  }

  static async open(uploadDir: string): Promise<ComfyInputs> {
    const store = new ComfyInputs(uploadDir);
    await fs.mkdir(store.incomingDir, { recursive: true });
    for (const name of await fs.readdir(store.incomingDir)) await fs.rm(path.join(store.incomingDir, name), { force: true, recursive: true });
    const tenants = await fs.readdir(path.join(store.uploadDir, 'tenants')).catch(() => [] as string[]);
    for (const tenant of ['', ...tenants]) {
      for (const type of ['input', 'temp', 'output'] as const) {
        const dir = path.join(store.rootOf(tenant), type);
        if (tenant === '') await fs.mkdir(dir, { recursive: true });
        const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
        for (const entry of entries) {
          if (!entry.isFile()) continue;
          const rel = path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/');
          store.index.add(indexKey(tenant, { type, path: rel }));
        }
      }
    }
    return store;
  }

  /** The folder of a tenant's files. */
  private rootOf(tenant: string): string {
    return path.join(tenantDir(this.uploadDir, tenant), 'comfy');
  }

  has(ref: StoredRef, tenant = ''): boolean {
    return this.index.has(indexKey(tenant, ref));
  }

  /** The file on disk; the path was checked to stay inside its folder. */
  diskPath(ref: StoredRef, tenant = ''): string {
    return path.join(this.rootOf(tenant), ref.type, ...ref.path.split('/'));
  }

  // ── InputSource: the engine reads the files a job lists when it dispatches the job ─────────

  owns(ref: string, tenant = ''): boolean {
    const stored = parseRef(ref);
    return stored !== undefined && this.has(stored, tenant);
  }

  async read(ref: string, tenant = ''): Promise<InputFile> {
    const stored = parseRef(ref);
    if (!stored || !this.has(stored, tenant)) throw new Error(`no stored input file ${ref}`);
    return { bytes: await fs.readFile(this.diskPath(stored, tenant)), ...backendPlacement(stored, tenant) };
  }

  // ── uploads ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Keep a received file under the client's name, with ComfyUI's clash rules: unless
   * overwriting, a file of that name with identical bytes is reused, and different bytes get
   * "name (1).png", "name (2).png", …
   */
  save(incoming: string, request: { filename: string; subfolder: string; type: string; overwrite: boolean }, tenant = ''): Promise<Uploaded> {
    const run = this.placing.then(() => this.place(incoming, request, tenant));
    this.placing = run.catch(() => undefined);
    return run;
  }

  private async place(incoming: string, { filename, subfolder, type, overwrite }: { filename: string; subfolder: string; type: string; overwrite: boolean }, tenant: string): Promise<Uploaded> {
    if (!isFolderType(type)) throw new UploadRefused(`type must be input, temp or output, not ${JSON.stringify(type)}`);
    let name = filename;
    let rel = resolveInside(subfolder, name);
    if (rel === null || rel === '') throw new UploadRefused('the file name and subfolder must stay inside the upload folder');
    let duplicate = false;
    if (!overwrite) {
      const [stem, ext] = pySplitext(filename);
      for (let i = 1; this.has({ type, path: rel! }, tenant); i++) {
        if (await sameBytes(incoming, this.diskPath({ type, path: rel! }, tenant))) {
          duplicate = true;
          break;
        }
        name = `${stem} (${i})${ext}`;
        rel = resolveInside(subfolder, name);
        if (rel === null || rel === '') throw new UploadRefused('the file name and subfolder must stay inside the upload folder');
      }
    }
    const ref: StoredRef = { type, path: rel! };
    if (duplicate) {
      await fs.rm(incoming, { force: true });
    } else {
      const target = this.diskPath(ref, tenant);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(incoming, target);
      this.index.add(indexKey(tenant, ref));
    }
    return { name, subfolder, type };
  }
}

/** Every input value of a prompt that names a file this store holds (what the job must send along). */
export function storedRefsIn(prompt: Record<string, unknown>, owns: (ref: string) => boolean): string[] {
  const refs = new Set<string>();
  for (const node of Object.values(prompt)) {
    if (typeof node !== 'object' || node === null) continue;
    const inputs = (node as { inputs?: unknown }).inputs;
    if (typeof inputs !== 'object' || inputs === null) continue;
    for (const value of Object.values(inputs)) if (typeof value === 'string' && owns(value)) refs.add(value);
  }
  return [...refs];
}

function indexKey(tenant: string, ref: StoredRef): string {
  return `${tenant}\n${ref.type}/${ref.path}`;
}
