// Multipart uploads for both doors, through formidable's public API: files are written where the
// door says under names the door chooses, limits are refusals that name the bridge's settings, and
// on any failure (parse error, limit, a client that goes away) every part already written is
// deleted before the refusal is answered.
import { createWriteStream, promises as fs } from 'node:fs';
import type { WriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { PassThrough, Writable, pipeline } from 'node:stream';
import formidable, { errors as codes } from 'formidable';
import type { Part } from 'formidable';
import { refuse } from './errors.js';
import { BODY_IDLE_MS, formatBytes, idleWatch } from './body.js';
import { ORI_FILE_ID, PartHeaderNames } from '../uploads/part-header-names.js';

export interface UploadOptions {
  /** Where parts are written while they arrive. */
  dir: string;
  /** Bytes of one file and of all files together, and the setting that sets them. */
  maxFileBytes: number;
  maxTotalBytes: number;
  setting: string;
  maxFiles: number;
  maxFields: number;
  maxFieldsBytes: number;
  allowEmptyFiles: boolean;
  /** The name a file part is written under (never the client's). */
  newName: () => string;
  /** Accept the `ori_file_id` part header of the original bridge's clients. */
  oriFileId?: boolean;
  /** Refuse client file names with a path separator (where the door keeps the client's name). */
  bareNames?: boolean;
  idleMs?: number;
  /** Digest each file's bytes as they arrive (a content hash), so the file is never read twice. */
  digest?: () => Digest;
}

/** An incremental hash, as @noble/hashes makes them. */
export interface Digest {
  update(bytes: Uint8Array): unknown;
  digest(): Uint8Array;
}

export interface ReceivedFile {
  /** The form field name. */
  field: string;
  /** The client's file name, checked to carry no NUL or path separator. */
  originalFilename: string | null;
  mimetype: string | null;
  /** Where it was written, and under which name. */
  filepath: string;
  newFilename: string;
  size: number;
  /** The part's `ori_file_id` header, when asked for and sent. */
  oriFileId?: string;
  /** The digest of its bytes, when asked for. */
  digest?: Uint8Array;
}

export interface Received {
  fields: Record<string, string[]>;
  files: ReceivedFile[];
}

/** File bytes each request's upload brought in, once read whole (for operators' metrics). */
const bytesOf = new WeakMap<IncomingMessage, number>();

/** The file bytes `receiveUpload` read whole from this request; 0 when none. */
export function receivedBytes(req: IncomingMessage): number {
  return bytesOf.get(req) ?? 0;
}

/**
 * What is wrong with a client's file name: a NUL or other control character always; a path
 * separator (or "." / "..") when the name will be kept (`bare`).
 */
export function fileNameProblem(name: string, bare: boolean): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return `the file name ${JSON.stringify(name)} contains a control character`;
  if (!bare) return undefined;
  if (/[/\\]/.test(name)) return `the file name ${JSON.stringify(name)} contains a path separator; send the bare name`;
  if (name === '.' || name === '..') return `the file name ${JSON.stringify(name)} is not a file name`;
  return undefined;
}

function refusalFor(err: unknown, options: UploadOptions): Error {
  const e = err as Error & { httpCode?: number; code?: number | string; status?: number };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return err as Error;
  if (e.code === codes.biggerThanMaxFileSize || e.code === codes.biggerThanTotalMaxFileSize) {
    const total = e.code === codes.biggerThanTotalMaxFileSize;
    return refuse(413, `upload rejected: the upload exceeded ${options.setting}, which allows ${formatBytes(total ? options.maxTotalBytes : options.maxFileBytes)} ${total ? 'for all files together' : 'per file'}`);
  }
  if (e.code === codes.maxFilesExceeded) return refuse(413, `upload rejected: more than ${options.maxFiles} files in one request`);
  if (e.code === codes.maxFieldsExceeded) return refuse(413, `upload rejected: more than ${options.maxFields} fields in one request`);
  if (e.code === codes.maxFieldsSizeExceeded) return refuse(413, `upload rejected: the text fields are over ${formatBytes(options.maxFieldsBytes)}`);
  if (e.code === 'ERR_STREAM_PREMATURE_CLOSE' || e.code === 'ECONNRESET' || /aborted/i.test(e.message)) return refuse(400, 'upload rejected: the request ended before the body was complete');
  const status = e.httpCode && e.httpCode >= 400 && e.httpCode < 500 ? e.httpCode : 400;
  return refuse(status, `upload rejected: ${e.message}`);
}

/** A writable that drops what it is given: where parts go once the upload has failed. */
function sink(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done() });
}

/** The file's stream with each chunk passed to a digest on its way; finishes when the file has every byte. */
function digesting(file: WriteStream, digest: Digest): Writable {
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      digest.update(chunk);
      file.write(chunk, done);
    },
    final(done) {
      file.end(done);
    },
    destroy(err, done) {
      if (!file.destroyed) file.destroy();
      done(err);
    },
  });
  file.on('error', (err) => out.destroy(err));
  return out;
}

/**
 * Receive a multipart body into `options.dir`. Resolves with the fields and files; throws an
 * http-error (400, 408, 413) after every file it wrote is gone.
 */
export async function receiveUpload(req: IncomingMessage, options: UploadOptions): Promise<Received> {
  const written = new Map<string, WriteStream>();
  const meta = new Map<string, { field: string; oriFileId?: string }>();
  const digests = new Map<string, Digest>();
  let failed = false;
  let failure: Error | undefined;

  const form = formidable({
    uploadDir: options.dir,
    maxFileSize: options.maxFileBytes,
    maxTotalFileSize: options.maxTotalBytes,
    maxFiles: options.maxFiles,
    maxFields: options.maxFields,
    maxFieldsSize: options.maxFieldsBytes,
    allowEmptyFiles: options.allowEmptyFiles,
    minFileSize: 0,
    filename: (_name: string, _ext: string, part: Part) => {
      const name = options.newName();
      const header = options.oriFileId ? headerOf(part, ORI_FILE_ID) : undefined;
      meta.set(name, { field: part.name ?? '', ...(header ? { oriFileId: header } : {}) });
      return name;
    },
    // We open every file ourselves, so we know each one to delete when the upload fails.
    fileWriteStreamHandler: ((file: { newFilename: string }) => {
      if (failed) return sink();
      const filepath = path.join(options.dir, file.newFilename);
      const stream = createWriteStream(filepath, { flags: 'wx' });
      written.set(filepath, stream);
      if (!options.digest) return stream;
      const digest = options.digest();
      digests.set(file.newFilename, digest);
      return digesting(stream, digest);
    }) as unknown as () => Writable,
  });

  // The input: the request, through the pre-parse step that lets formidable read `ori_file_id`.
  const input = options.oriFileId ? new PartHeaderNames() : new PassThrough();
  const fail = (err: Error) => {
    failure ??= err;
    input.destroy(err);
  };
  // A part with a file name is a file even without a Content-Type (Python's requests sends none).
  const handlePart = form.onPart.bind(form);
  form.onPart = (part: Part) => {
    if (part.originalFilename !== null && part.originalFilename !== undefined) {
      const problem = fileNameProblem(part.originalFilename, options.bareNames ?? false);
      if (problem) return fail(refuse(400, `upload rejected: ${problem}`));
      if (!part.mimetype) part.mimetype = 'application/octet-stream';
    }
    return handlePart(part);
  };

  const idleMs = options.idleMs ?? BODY_IDLE_MS;
  const stopIdle = idleWatch(req, idleMs, () => fail(refuse(408, `upload rejected: no byte arrived for ${Math.round(idleMs / 1000)} s`)));
  pipeline(req, input, () => undefined);
  const body = Object.assign(input, { headers: req.headers }) as unknown as IncomingMessage;
  try {
    const [fields, files] = await form.parse(body);
    if (failure) throw failure;
    const received: ReceivedFile[] = [];
    for (const [field, list] of Object.entries(files)) {
      for (const f of list ?? []) {
        const m = meta.get(f.newFilename);
        received.push({
          field: m?.field ?? field,
          originalFilename: f.originalFilename,
          mimetype: f.mimetype,
          filepath: path.join(options.dir, f.newFilename),
          newFilename: f.newFilename,
          size: f.size,
          ...(m?.oriFileId ? { oriFileId: m.oriFileId } : {}),
          ...(digests.has(f.newFilename) ? { digest: digests.get(f.newFilename)!.digest() } : {}),
        });
      }
    }
    bytesOf.set(req, (bytesOf.get(req) ?? 0) + received.reduce((sum, f) => sum + f.size, 0));
    const flatFields: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(fields)) flatFields[name] = (values ?? []).map(String);
    return { fields: flatFields, files: received };
  } catch (err) {
    failed = true;
    await discardWritten(written);
    throw refusalFor(failure ?? err, options);
  } finally {
    stopIdle();
  }
}

/** Close every stream this upload opened, then delete its file (a stream still opening would recreate it). */
async function discardWritten(written: Map<string, WriteStream>): Promise<void> {
  await Promise.all(
    [...written].map(async ([filepath, stream]) => {
      if (!stream.closed) {
        await new Promise<void>((resolve) => {
          stream.once('close', () => resolve());
          stream.destroy();
        });
      }
      await fs.rm(filepath, { force: true });
    }),
  );
}

/**
 * One header of a part as formidable's multipart parser recorded it (its `headers` map; the
 * typings leave it out).
 */
function headerOf(part: Part, name: string): string | undefined {
  const headers = (part as Part & { headers?: Record<string, unknown> }).headers;
  const value = headers?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
