// Output file sizes, which ComfyUI does not report with the file: asked once per file of the
// backend that holds it (/view of its first byte) and kept in memory. A file's size never changes, so an answer
// is kept as long as there is room; a backend that does not answer leaves the size unknown.
import { LRUCache } from 'lru-cache';
import type { Engine } from '../engine/index.js';
import type { JobOutput } from './outputs.js';

const MAX_KEPT = 50_000;
/** A file its backend did not answer for is not asked again for this long (views do not wait on it). */
const MISS_MS = 30_000;

export class OutputSizes {
  private readonly sizes = new LRUCache<string, number>({ max: MAX_KEPT });
  private readonly misses = new LRUCache<string, true>({ max: MAX_KEPT, ttl: MISS_MS });
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
    const questions = outputs.filter((o) => o.backend !== undefined && !this.sizes.has(o.id) && !this.misses.has(o.id)).map((o) => this.ask(o));
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

  /** A one-byte range of the file: its Content-Range names the whole size (a HEAD is not kept alive by every backend). */
  private async head(output: JobOutput): Promise<void> {
    try {
      const res = await this.engine.viewOnBackend(output.backend!, output.file, { range: 'bytes=0-0', signal: AbortSignal.timeout(this.engine.config.backendTimeoutMs) });
      const size = sizeOf(res.statusCode, res.headers);
      // A backend that ignores the range sends the whole file: not read.
      if (res.statusCode === 200) res.body.destroy();
      else await res.body.dump().catch(() => undefined);
      if (size !== undefined) this.sizes.set(output.id, size);
      else this.misses.set(output.id, true);
    } catch {
      // Unknown for now: asked again a little later.
      this.misses.set(output.id, true);
    }
  }
}

function sizeOf(status: number, headers: Record<string, string | string[] | undefined>): number | undefined {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const n =
    status === 206 ? Number(/\/(\d+)$/.exec(header('content-range') ?? '')?.[1]) : status === 200 ? Number(header('content-length')) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
