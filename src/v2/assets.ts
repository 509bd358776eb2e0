// The v2 door's assets: uuid-named records over content-addressed blobs, and the job outputs that
// are assets too.
//
// A blob is a file named by its blake3 in the owning tenant's folder of UPLOAD_DIR
// (`<UPLOAD_DIR>/[tenants/<name>/]assets/<hex>`), which every process of a cluster shares. Dedup is
// per tenant: a blob is "mintable" only by a tenant that uploaded those bytes, so a hash never tells
// one key anything about another's files. Records (collection `v2-assets`) and blobs (`v2-asset-blobs`)
// are kept with the jobs, in the embedded store or in Redis. Assets are never deleted.
//
// The bridge keeps images only (PNG, JPEG, GIF, WebP, BMP, TIFF), checked as the curated door's
// uploads are: what a LoadImage-style node reads. The recorded content type is the bytes' own.
//
// A workflow names an asset with a core/ASSET object (asset-refs.ts); `resolveAssets` turns each into
// an input reference this module serves to the engine (an InputSource), so the bytes reach whichever
// backend runs the job, under the tenant's folder there.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Collection, Engine, Principal } from '../engine/index.js';
import { sees } from '../engine/index.js';
import { backendInputFolder, tenantDir } from '../engine/tenants.js';
import type { InputFile, InputSource } from '../uploads/input-files.js';
import { checkImage } from '../uploads/image-check.js';
import { viewContentType } from '../comfy/mime.js';
import type { ComfyPrompt } from '../comfy/protocol.js';
import type { Job } from '../jobs/job.js';
import { newId } from '../ids.js';
import { V2Error } from './errors.js';
import { contentHash, hexOf } from './content-hash.js';
import { AssetUrls } from './asset-urls.js';
import { OutputIndex } from './output-index.js';
import type { OutputAsset } from './output-index.js';
import { assetReferencesIn, replaceAssetReferences } from './asset-refs.js';

/** The door name of v2 jobs (JobSpec.door): their outputs are assets. */
export const V2_DOOR = 'v2';

/** Where asset files go on a backend, inside the tenant's input subfolder; also the prefix of their references. */
export const BACKEND_FOLDER = 'bridge-assets';

export const MAX_TAGS = 32;
export const MAX_TAG_CHARS = 128;
export const MAX_PATH_CHARS = 1024;

export interface AssetRecord {
  id: string;
  /** The tenant (API key name) that owns it; "" in an open bridge. */
  tenant: string;
  /** `blake3:<hex>`. */
  hash: string;
  size: number;
  contentType: string;
  filePath: string | null;
  tags: string[];
  /** ms since the epoch. */
  createdAt: number;
}

/** A tenant's blob: the bytes behind every asset of that tenant with its hash. */
interface BlobRecord {
  size: number;
  contentType: string;
  createdAt: number;
}

export type FoundAsset = { kind: 'upload'; record: AssetRecord } | { kind: 'output'; output: OutputAsset; job: Job };

export interface Minted {
  record: AssetRecord;
  /** Upload: the bytes were new to the tenant. From a hash: an asset was minted (not an identical one returned). */
  createdNew: boolean;
}

/** A received upload: where it lies, and the blake3 computed while it arrived. */
export interface ReceivedBytes {
  path: string;
  digest: Uint8Array;
  size: number;
}

export interface Placement {
  filePath: string | null;
  tags: string[];
}

/** One problem with an asset reference of a workflow, as `missing_asset` details list it. */
export interface AssetProblem {
  node_id: string;
  input: string;
  id: string | null;
  reason: 'malformed' | 'not_found';
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/bmp': 'bmp',
  'image/tiff': 'tiff',
};

/** An input reference: `bridge-assets/<blob hex>.<ext>` or `bridge-assets/<output asset id>.<ext>`. */
const INPUT_REF = new RegExp(`^${BACKEND_FOLDER}/([0-9a-f]{64}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\\.([a-z0-9]{1,8})$`);

/**
 * Is this graph value an asset input `resolveAssets` made? (For graph validation: such a value is a
 * file the bridge sends along at dispatch, which no backend lists yet.)
 */
export function isAssetInput(value: string): boolean {
  return INPUT_REF.test(value);
}

const registry = new WeakMap<Engine, Assets>();

/** The assets of this engine (one per engine; the first call registers them as an input source). */
export function assetsOf(engine: Engine): Assets {
  let assets = registry.get(engine);
  if (!assets) {
    assets = new Assets(engine);
    engine.inputs.add(assets);
    registry.set(engine, assets);
  }
  return assets;
}

function blobKey(tenant: string, hex: string): string {
  return `${tenant}\n${hex}`;
}

/** Assets that are the same reference: same owner, bytes, path and tags. */
function referenceKey(r: Pick<AssetRecord, 'tenant' | 'hash' | 'filePath' | 'tags'>): string {
  return JSON.stringify([r.tenant, r.hash, r.filePath, [...r.tags].sort()]);
}

/** A client's file_path: kept as a label, never used as a path here. */
export function checkFilePath(value: unknown, required: boolean): string | null {
  if (value === undefined || value === null) {
    if (required) throw new V2Error(422, 'invalid_request', '"file_path" is required: the file name the asset goes by, e.g. photo.png');
    return null;
  }
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value === '' || value.length > MAX_PATH_CHARS || /[\x00-\x1f\x7f]/.test(value)) {
    throw new V2Error(422, 'invalid_request', `"file_path" must be a file name of 1 to ${MAX_PATH_CHARS} characters without control characters`);
  }
  return value;
}

/** A client's tags: a list of short strings, in order, without repeats. */
export function checkTags(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_TAGS || !value.every((t) => typeof t === 'string' && t !== '' && t.length <= MAX_TAG_CHARS)) {
    throw new V2Error(422, 'invalid_request', `"tags" must be a list of at most ${MAX_TAGS} strings of 1 to ${MAX_TAG_CHARS} characters`);
  }
  return [...new Set(value as string[])];
}

export class Assets implements InputSource {
  readonly urls: AssetUrls;
  readonly outputs: OutputIndex;
  private readonly records: Collection<AssetRecord>;
  private readonly blobs: Collection<BlobRecord>;
  /** Reference key → asset id, for from-hash's "an identical reference already exists". */
  private readonly byReference = new Map<string, string>();
  private readonly referenceOf = new Map<string, string>();
  private readonly root: string;

  constructor(private readonly engine: Engine) {
    this.urls = new AssetUrls(engine);
    this.outputs = new OutputIndex(engine, V2_DOOR);
    this.records = engine.collection<AssetRecord>('v2-assets');
    this.blobs = engine.collection<BlobRecord>('v2-asset-blobs');
    this.root = path.resolve(engine.config.uploadDir);
    for (const [id, record] of this.records.entries()) this.index(id, record);
    // Records set here or by another process of the cluster.
    engine.onRecord((collection, id, value) => {
      if (collection === 'v2-assets') this.index(id, value as AssetRecord | undefined);
    });
  }

  private index(id: string, record: AssetRecord | undefined): void {
    const before = this.referenceOf.get(id);
    if (before !== undefined && this.byReference.get(before) === id) this.byReference.delete(before);
    this.referenceOf.delete(id);
    if (!record) return;
    const key = referenceKey(record);
    this.referenceOf.set(id, key);
    if (!this.byReference.has(key)) this.byReference.set(key, id);
  }

  /** Where a tenant's blob lies. */
  blobPath(tenant: string, hex: string): string {
    return path.join(tenantDir(this.root, tenant), 'assets', hex);
  }

  /** Where uploads are received before they are checked (inside UPLOAD_DIR, so a rename never crosses devices). */
  get incomingDir(): string {
    return this.engine.uploads.incomingDir;
  }

  /** May this tenant mint an asset over these bytes (it uploaded them)? */
  mintable(hash: string, tenant: string): boolean {
    const hex = hexOf(hash);
    return hex !== undefined && this.blobs.has(blobKey(tenant, hex));
  }

  // ── minting ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Keep an upload as the tenant's asset: check it against `expectedHash` (409 hash_mismatch) and
   * as an image (422), store its blob unless the tenant has those bytes already, and mint a new
   * asset over it. The received file is gone afterwards, kept or not.
   */
  async keep(bytes: ReceivedBytes, placement: Placement, tenant: string, expectedHash?: string): Promise<Minted> {
    try {
      const hash = contentHash(bytes.digest);
      const hex = hexOf(hash)!;
      if (expectedHash !== undefined && hexOf(expectedHash) !== hex) {
        throw new V2Error(409, 'hash_mismatch', `the bytes received hash to ${hash}, not to expected_hash ${expectedHash}; nothing was kept`, { expected_hash: expectedHash, hash });
      }
      const check = await checkImage(bytes.path, { maxPixels: this.engine.config.uploadMaxPixels });
      if (!check.ok) {
        throw new V2Error(422, 'unsupported_content', `${JSON.stringify(placement.filePath ?? 'the file')} ${check.reason}; assets are images a LoadImage node can read`);
      }
      const target = this.blobPath(tenant, hex);
      await fs.mkdir(path.dirname(target), { recursive: true });
      // Same name, same bytes: replacing a blob that is there already changes nothing.
      await fs.rename(bytes.path, target);
      const blob: BlobRecord = { size: bytes.size, contentType: check.kind.mime, createdAt: Date.now() };
      const createdNew = await this.blobs.claim(blobKey(tenant, hex), blob);
      const record = await this.mint(tenant, hash, this.blobs.get(blobKey(tenant, hex)) ?? blob, placement);
      return { record, createdNew };
    } finally {
      await fs.rm(bytes.path, { force: true });
    }
  }

  /**
   * Mint an asset over bytes the tenant has: the same reference (path and tags) if one exists
   * (createdNew false), else a new one. Undefined when the tenant has no such blob.
   */
  async fromHash(hash: string, placement: Placement, tenant: string): Promise<Minted | undefined> {
    const hex = hexOf(hash);
    const blob = hex === undefined ? undefined : this.blobs.get(blobKey(tenant, hex));
    if (!blob) return undefined;
    const written = `blake3:${hex}`;
    const same = this.byReference.get(referenceKey({ tenant, hash: written, ...placement }));
    const existing = same === undefined ? undefined : this.records.get(same);
    if (existing) return { record: existing, createdNew: false };
    return { record: await this.mint(tenant, written, blob, placement), createdNew: true };
  }

  private async mint(tenant: string, hash: string, blob: BlobRecord, placement: Placement): Promise<AssetRecord> {
    const record: AssetRecord = { id: newId(), tenant, hash, size: blob.size, contentType: blob.contentType, filePath: placement.filePath, tags: placement.tags, createdAt: Date.now() };
    await this.records.set(record.id, record);
    return record;
  }

  // ── finding ─────────────────────────────────────────────────────────────────────────────────

  /** The asset with this id if the caller may see it: an upload of its tenant, or an output of one of its jobs. */
  find(id: string, who: Principal): FoundAsset | undefined {
    const found = this.findAny(id);
    if (!found) return undefined;
    return sees(who, found.kind === 'upload' ? found.record : found.job) ? found : undefined;
  }

  /** The asset with this id, whoever owns it (for a signed URL, whose signature is the authority). */
  findAny(id: string): FoundAsset | undefined {
    const record = this.records.get(id);
    if (record) return { kind: 'upload', record };
    const output = this.outputs.get(id);
    const job = output && this.engine.get(output.jobId);
    return output && job ? { kind: 'output', output, job } : undefined;
  }

  /** Size and type of an output file, asked of the backend that holds it (once). */
  async outputMeta(output: OutputAsset): Promise<{ size: number; contentType: string }> {
    if (output.size !== undefined && output.contentType !== undefined) return { size: output.size, contentType: output.contentType };
    let res;
    try {
      res = await this.engine.viewOnBackend(output.file.backend, output.file, { head: true });
    } catch (err) {
      if ((err as { status?: number }).status === 404) throw new V2Error(404, 'not_found', 'no such asset: the backend that made it is no longer configured');
      throw new V2Error(502, 'upstream_error', `the backend holding this output did not answer: ${(err as Error).message}`);
    }
    await res.body.dump().catch(() => undefined);
    if (res.statusCode === 404) throw new V2Error(404, 'not_found', 'no such asset: the backend that made it no longer has the file');
    if (res.statusCode !== 200) throw new V2Error(502, 'upstream_error', `the backend holding this output answered ${res.statusCode}`);
    const length = Number(res.headers['content-length']);
    const type = res.headers['content-type'];
    output.size = Number.isSafeInteger(length) && length >= 0 ? length : 0;
    output.contentType = typeof type === 'string' && type !== '' ? type : viewContentType(output.file.filename);
    return { size: output.size, contentType: output.contentType };
  }

  // ── workflows ───────────────────────────────────────────────────────────────────────────────

  /**
   * Resolve every core/ASSET reference of an API-format graph submitted by `tenant`: a copy of the
   * graph with each replaced by an input reference, and those references (JobSpec.uploads), whose
   * bytes the engine sends to the backend that runs the job. A malformed reference, or one to an
   * asset that does not exist or is another tenant's, is 422 `missing_asset` listing each.
   */
  resolveAssets(prompt: ComfyPrompt, tenant: string): { prompt: ComfyPrompt; uploads: string[] } {
    const refs = assetReferencesIn(prompt);
    if (refs.length === 0) return { prompt, uploads: [] };
    const problems: AssetProblem[] = [];
    const inputs = new Map<string, string>();
    for (const ref of refs) {
      const input = ref.id === undefined ? undefined : this.inputRefOf(ref.id, tenant);
      if (input !== undefined) inputs.set(ref.id!, input);
      else problems.push({ node_id: ref.node, input: ref.input, id: ref.id ?? null, reason: ref.id === undefined ? 'malformed' : 'not_found' });
    }
    if (problems.length) {
      const words = problems.map((p) =>
        p.reason === 'malformed'
          ? `node ${p.node_id} input "${p.input}": a core/ASSET reference needs {"info": {"id": "<asset id>"}}`
          : `node ${p.node_id} input "${p.input}": asset ${p.id} does not exist or is not yours`,
      );
      throw new V2Error(422, 'missing_asset', words.join('; '), { assets: problems });
    }
    return { prompt: replaceAssetReferences(prompt, (id) => inputs.get(id)!), uploads: [...new Set(inputs.values())] };
  }

  /** The input reference for one of the tenant's assets, or undefined. */
  private inputRefOf(id: string, tenant: string): string | undefined {
    const found = this.findAny(id);
    if (!found) return undefined;
    if (found.kind === 'upload') {
      if (found.record.tenant !== tenant) return undefined;
      return `${BACKEND_FOLDER}/${hexOf(found.record.hash)}.${EXTENSIONS[found.record.contentType] ?? 'bin'}`;
    }
    if ((found.job.tenant ?? '') !== tenant) return undefined;
    const ext = /\.([A-Za-z0-9]{1,8})$/.exec(found.output.file.filename)?.[1]?.toLowerCase() ?? 'bin';
    return `${BACKEND_FOLDER}/${found.output.id}.${ext}`;
  }

  // ── InputSource: the engine reads a job's asset inputs when it dispatches the job ──────────

  owns(ref: string, tenant: string): boolean {
    const m = INPUT_REF.exec(ref);
    if (!m) return false;
    if (m[1]!.length === 64) return this.blobs.has(blobKey(tenant, m[1]!));
    const output = this.outputs.get(m[1]!);
    return output !== undefined && (this.engine.get(output.jobId)?.tenant ?? '') === tenant;
  }

  async read(ref: string, tenant: string): Promise<InputFile> {
    const m = INPUT_REF.exec(ref);
    if (!m || !this.owns(ref, tenant)) throw new Error(`no asset behind ${ref}`);
    const placement = { filename: `${m[1]}.${m[2]}`, subfolder: [backendInputFolder(tenant), BACKEND_FOLDER].filter(Boolean).join('/') };
    if (m[1]!.length === 64) return { bytes: await fs.readFile(this.blobPath(tenant, m[1]!)), ...placement };
    // An output of an earlier job, from the backend that made it.
    const res = await this.engine.viewOutput(this.outputs.get(m[1]!)!.file);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > this.engine.config.uploadMaxBytes) {
        res.body.destroy();
        throw new Error(`output ${m[1]} is larger than UPLOAD_MAX_SIZE`);
      }
      chunks.push(chunk as Buffer);
    }
    return { bytes: Buffer.concat(chunks), ...placement };
  }
}
