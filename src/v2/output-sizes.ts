// Output file sizes, which ComfyUI does not report with the file: asked once per file of the
// backend that holds it (HEAD /view) and kept in memory. A file's size never changes, so an answer
// is kept as long as there is room; a backend that does not answer leaves the size unknown.
import { LRUCache } from 'lru-cache';
import type { Engine } from '../engine/index.js';
import type { JobOutput } from './outputs.js';

const MAX_KEPT = 50_000;

export class OutputSizes {
  private readonly sizes = new LRUCache<string, number>({ max: MAX_KEPT });
  /** Questions under way, by asset id, so concurrent views ask once. */
  private readonly asking = new Map<string, Promise<void>>();

  constructor(
    private readonly engine: Engine,
    /** How long a view waits for an answer before showing the size as unknown. */
    private readonly waitMs: number,
  ) {}

  of(assetId: string): number | undefined {
    return this.sizes.get(assetId);
  }

  /** Learn the sizes not known yet; resolves once they are known, or after the wait. */
  async learn(outputs: readonly JobOutput[]): Promise<void> {
    const questions = outputs.filter((o) => o.backend !== undefined && !this.sizes.has(o.id)).map((o) => this.ask(o));
    if (questions.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(questions), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.waitMs)))]);
    clearTimeout(timer);
  }

  private ask(output: JobOutput): Promise<void> {
    let question = this.asking.get(output.id);
    if (!question) {
      question = this.head(output).finally(() => this.asking.delete(output.id));
      this.asking.set(output.id, question);
    }
    return question;
  }

  private async head(output: JobOutput): Promise<void> {
    try {
      const res = await this.engine.viewOnBackend(output.backend!, output.file, { head: true, signal: AbortSignal.timeout(this.engine.config.backendTimeoutMs) });
      await res.body.dump().catch(() => undefined);
      const length = Number(res.headers['content-length']);
      if (res.statusCode === 200 && Number.isSafeInteger(length) && length >= 0) this.sizes.set(output.id, length);
    } catch {
      // Unknown for now: the next view asks again.
    }
  }
}
