// The number of accepted generations, kept in CURRENT_STATE across restarts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';

interface StateData {
  generation_count: number;
}

export class GenerationCount {
  private writing: Promise<void> | undefined;

  private constructor(private readonly db: Low<StateData>) {}

  static async open(file: string): Promise<GenerationCount> {
    await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Low<StateData>(new JSONFile<StateData>(file), { generation_count: 0 });
    try {
      await db.read();
    } catch (err) {
      throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
    }
    const n = Number(db.data?.generation_count);
    db.data = { ...db.data, generation_count: Number.isSafeInteger(n) && n >= 0 ? n : 0 };
    return new GenerationCount(db);
  }

  get value(): number {
    return this.db.data.generation_count;
  }

  /** Count one accepted generation; the write is batched with others of the same tick. */
  increment(): Promise<void> {
    this.db.data.generation_count += 1;
    if (!this.writing) {
      this.writing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.writing = undefined;
        return this.db.write();
      });
    }
    return this.writing;
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }
}
