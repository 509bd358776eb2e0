// The number of accepted generations, kept in CURRENT_STATE across restarts.
//
// Every accepted job carries its generation number and is in the job store before its 200, so
// the count itself can be written lazily: at start-up it is the larger of the file's value and
// the highest number in the store. That keeps accepts to one disk write.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';

interface StateData {
  generation_count: number;
}

/** How long a new count may wait before it is written. */
const WRITE_DELAY_MS = 200;

/** The number of accepted generations: counted in a file here, or in Redis for a cluster. */
export interface GenerationCounter {
  /** Count one accepted generation and answer its number. */
  next(): Promise<number>;
  /** The count now. */
  current(): Promise<number>;
  /** Write what is not written yet. */
  flush(): Promise<void>;
}

export class GenerationCount implements GenerationCounter {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly db: Low<StateData>) {}

  /** Open the file; `floor` is the highest generation number the job store holds. */
  static async open(file: string, floor = 0): Promise<GenerationCount> {
    await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Low<StateData>(new JSONFile<StateData>(file), { generation_count: 0 });
    try {
      await db.read();
    } catch (err) {
      throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
    }
    const n = Number(db.data?.generation_count);
    db.data = { ...db.data, generation_count: Math.max(Number.isSafeInteger(n) && n >= 0 ? n : 0, floor) };
    return new GenerationCount(db);
  }

  get value(): number {
    return this.db.data.generation_count;
  }

  async current(): Promise<number> {
    return this.value;
  }

  /** Count one accepted generation and answer its number; the file follows shortly. */
  async next(): Promise<number> {
    this.db.data.generation_count += 1;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.writing = this.writing.then(() => this.db.write()).catch(() => undefined);
    }, WRITE_DELAY_MS);
    return this.db.data.generation_count;
  }

  /** Write the current count now. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.writing = this.writing.then(() => this.db.write());
    }
    await this.writing;
  }
}
