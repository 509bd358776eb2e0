// Files clients upload, kept under UPLOAD_DIR until the jobs that use them are done.
// Names are made here (uuid + extension from the content), so a client never chooses a path.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { newId } from '../ids.js';
import { tenantDir } from '../engine/tenants.js';
import { SNIFF_BYTES, sniffImage } from './sniff.js';
import type { ImageKind } from './sniff.js';

// New names are version 7 uuids; version 4 names were made before and may still sit in queued jobs.
const NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.(png|jpg|gif|webp|bmp|tiff)$/;

export class UploadStore {
  readonly dir: string;
  /** Where files are received before they are checked; inside dir so a rename never crosses devices. */
  readonly incomingDir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.incomingDir = path.join(this.dir, '.incoming');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.incomingDir, { recursive: true });
    // Leftovers of requests cut short by a restart.
    for (const name of await fs.readdir(this.incomingDir)) await fs.rm(path.join(this.incomingDir, name), { force: true });
  }

  /** A fresh name for a file being received (no extension yet). */
  newIncomingName(): string {
    return newId();
  }

  /** True when `name` has the shape of a stored upload name (it says nothing of existence). */
  static isName(name: unknown): name is string {
    return typeof name === 'string' && NAME.test(name);
  }

  /** Is this one of the tenant's uploads? Another tenant's file of that name does not count. */
  async exists(name: string, tenant = ''): Promise<boolean> {
    if (!UploadStore.isName(name)) return false;
    return fs.access(this.pathOf(name, tenant)).then(
      () => true,
      () => false,
    );
  }

  pathOf(name: string, tenant = ''): string {
    if (!UploadStore.isName(name)) throw new Error(`not an upload name: ${name}`);
    return path.join(tenantDir(this.dir, tenant), name);
  }

  read(name: string, tenant = ''): Promise<Buffer> {
    return fs.readFile(this.pathOf(name, tenant));
  }

  /**
   * Check a received file and keep it if it is an image: answers its stored name, or undefined
   * (and deletes it) when it is not an image.
   */
  async accept(incomingPath: string, incomingName: string, tenant = ''): Promise<{ name: string; kind: ImageKind } | undefined> {
    const handle = await fs.open(incomingPath, 'r');
    let head: Buffer;
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await handle.read(buf, 0, SNIFF_BYTES, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    const kind = sniffImage(head);
    if (!kind) {
      await fs.rm(incomingPath, { force: true });
      return undefined;
    }
    const name = `${incomingName}.${kind.ext}`;
    const target = this.pathOf(name, tenant);
    if (tenant !== '') await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(incomingPath, target);
    return { name, kind };
  }

  async discard(incomingPath: string): Promise<void> {
    const resolved = path.resolve(incomingPath);
    if (path.dirname(resolved) !== this.incomingDir) return;
    await fs.rm(resolved, { force: true });
  }

  async remove(name: string, tenant = ''): Promise<void> {
    if (!UploadStore.isName(name)) return;
    await fs.rm(this.pathOf(name, tenant), { force: true });
  }
}
