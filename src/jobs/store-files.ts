// The job store on disk: a snapshot (jobs.json, written with lowdb) plus a journal
// (jobs.journal, one JSON line per change) appended at every group commit. Records (named
// collections not tied to a job) live in the same files. A write costs the size
// of what changed, not of every job; when the journal outgrows the snapshot, the snapshot is
// rewritten and the journal starts again (compaction).
//
// Recovery chain: compaction first keeps the current pair as jobs.json.bak + jobs.journal.bak,
// so a damaged snapshot is rebuilt from the last good one and both journals. A journal line cut
// short by a crash (the last one) was never acknowledged and is dropped; damage anywhere else
// stops start-up with a message: nothing is silently emptied.
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import type { Job } from './job.js';
import { logger } from '../log.js';

const log = logger('store');

export class StoreError extends Error {}

interface Snapshot {
  version: 1;
  jobs: Job[];
  /** Collection → id → value. */
  records?: Record<string, Record<string, unknown>>;
}

/** A record set (`v` given) or deleted (no `v`) in a named collection. */
export interface RecordChange {
  c: string;
  id: string;
  v?: unknown;
}

/** Collection → id → value. */
export type Records = Map<string, Map<string, unknown>>;

/** One journal line: a job as it is now, the id of a job that is gone, or a record's change. */
type Entry = { put: Job } | { del: string } | { rec: RecordChange };

/** Compact once the journal is this large and larger than the snapshot. */
const MIN_COMPACT_BYTES = 4 * 1024 * 1024;

export class StoreFiles {
  private journal: FileHandle | undefined;
  private journalBytes = 0;
  private snapshotBytes = 0;

  private constructor(
    readonly dir: string,
    private readonly db: Low<Snapshot>,
  ) {}

  get snapshotFile(): string {
    return path.join(this.dir, 'jobs.json');
  }

  get journalFile(): string {
    return path.join(this.dir, 'jobs.journal');
  }

  /** Open the files and read back every job they hold. */
  static async open(dir: string, serialize: () => string): Promise<{ files: StoreFiles; jobs: Map<string, Job>; records: Records }> {
    await fs.mkdir(dir, { recursive: true });
    const snapshot = path.join(dir, 'jobs.json');
    const db = new Low<Snapshot>(new DataFile<Snapshot>(snapshot, { parse: (t) => JSON.parse(t) as Snapshot, stringify: serialize }), { version: 1, jobs: [] });
    const files = new StoreFiles(dir, db);
    const { jobs, records } = await files.recover();
    files.journal = await fs.open(files.journalFile, 'a');
    files.journalBytes = (await files.journal.stat()).size;
    files.snapshotBytes = await fs.stat(snapshot).then((s) => s.size, () => 0);
    return { files, jobs, records };
  }

  /** Append these changes; resolves once they are written. */
  async append(put: Iterable<string>, removed: Iterable<string>, records: Iterable<RecordChange> = []): Promise<void> {
    let text = '';
    for (const json of put) text += `{"put":${json}}\n`;
    for (const id of removed) text += `${JSON.stringify({ del: id })}\n`;
    for (const rec of records) text += `${JSON.stringify({ rec })}\n`;
    if (text === '') return;
    const bytes = Buffer.from(text);
    await this.journal!.write(bytes);
    this.journalBytes += bytes.length;
  }

  get wantsCompaction(): boolean {
    return this.journalBytes > MIN_COMPACT_BYTES && this.journalBytes > this.snapshotBytes;
  }

  /** Rewrite the snapshot from memory (via the serializer) and start an empty journal. */
  async compact(): Promise<void> {
    await this.journal?.close();
    this.journal = undefined;
    await renameIfExists(this.snapshotFile, `${this.snapshotFile}.bak`);
    await renameIfExists(this.journalFile, `${this.journalFile}.bak`);
    await this.db.write();
    this.journal = await fs.open(this.journalFile, 'a');
    this.journalBytes = 0;
    this.snapshotBytes = await fs.stat(this.snapshotFile).then((s) => s.size, () => 0);
  }

  async close(): Promise<void> {
    await this.journal?.close();
    this.journal = undefined;
  }

  private async recover(): Promise<{ jobs: Map<string, Job>; records: Records }> {
    const snap = this.snapshotFile;
    const primary = await readSnapshot(snap);
    const backup = await readSnapshot(`${snap}.bak`);
    let jobs: Map<string, Job>;
    let records: Records;
    if (primary.ok && (primary.data || !backup.ok || !backup.data)) {
      if (!primary.data && !backup.ok) throw new StoreError(`${snap} is missing and ${snap}.bak is damaged (${backup.error}); move ${snap}.bak aside to start empty`);
      jobs = toMap(primary.data?.jobs ?? []);
      records = recordsOf(primary.data);
    } else {
      // The snapshot is damaged, or missing after a compaction cut short: rebuild from the last
      // good snapshot and the journal that followed it.
      if (!backup.ok || !backup.data) {
        const why = primary.ok ? 'is missing' : `is damaged (${primary.error})`;
        throw new StoreError(
          `${snap} ${why} and no good copy exists (${backup.ok ? 'no backup' : backup.error}). Move the file aside to start with an empty job store; nothing was changed.`,
        );
      }
      if (!primary.ok) {
        log.error(`${snap} is damaged (${primary.error}); recovering from ${snap}.bak and the journals`);
        await fs.rename(snap, `${snap}.damaged-${Date.now()}`).catch(() => undefined);
      }
      jobs = toMap(backup.data.jobs);
      records = recordsOf(backup.data);
      await replay(`${this.journalFile}.bak`, jobs, records, { lastMayBeTorn: false });
    }
    const good = await replay(this.journalFile, jobs, records, { lastMayBeTorn: true });
    // Cut a torn tail off, or the next append would glue onto it and damage a good line.
    const size = await fs.stat(this.journalFile).then((st) => st.size, () => 0);
    if (size > good) await fs.truncate(this.journalFile, good);
    return { jobs, records };
  }
}

function recordsOf(snapshot: Snapshot | undefined): Records {
  const records: Records = new Map();
  for (const [name, values] of Object.entries(snapshot?.records ?? {})) records.set(name, new Map(Object.entries(values)));
  return records;
}

/** Apply one record change. */
export function applyRecord(records: Records, { c, id, v }: RecordChange, has: boolean): void {
  let map = records.get(c);
  if (has) {
    if (!map) records.set(c, (map = new Map()));
    map.set(id, v);
  } else {
    map?.delete(id);
  }
}

function toMap(list: Job[]): Map<string, Job> {
  return new Map(list.map((j) => [j.id, j]));
}

async function renameIfExists(from: string, to: string): Promise<void> {
  await fs.rename(from, to).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

async function readSnapshot(file: string): Promise<{ ok: true; data: Snapshot | undefined } | { ok: false; error: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, data: undefined };
    return { ok: false, error: (err as Error).message };
  }
  try {
    const data = JSON.parse(text) as Snapshot;
    if (!data || typeof data !== 'object' || !Array.isArray(data.jobs)) return { ok: false, error: 'not a job store' };
    return { ok: true, data };
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
}

/** Apply a journal's lines to `jobs`; answers the length in bytes of its good part. */
async function replay(file: string, jobs: Map<string, Job>, records: Records, { lastMayBeTorn }: { lastMayBeTorn: boolean }): Promise<number> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new StoreError(`${file} cannot be read: ${(err as Error).message}`);
  }
  let good = 0;
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') {
      if (i < lines.length - 1) good += 1;
      continue;
    }
    const last = i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === '');
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
      if (!entry || typeof entry !== 'object' || (!('put' in entry) && !('del' in entry) && !('rec' in entry))) throw new Error('not a journal entry');
    } catch (err) {
      if (last && (lastMayBeTorn || !complete)) {
        // A write cut short by a crash: it was never acknowledged to anyone.
        log.warn(`${file}: ignoring a torn last line (${line.length} bytes)`);
        break;
      }
      throw new StoreError(`${file} line ${i + 1} is damaged (${(err as Error).message}); move the data folder aside or repair that line`);
    }
    if ('put' in entry) jobs.set(entry.put.id, entry.put);
    else if ('del' in entry) jobs.delete(entry.del);
    else applyRecord(records, entry.rec, 'v' in entry.rec);
    good += Buffer.byteLength(line) + 1;
  }
  return Math.min(good, Buffer.byteLength(text));
}
