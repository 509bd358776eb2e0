// Read-only information a client asks ComfyUI for (/object_info, /models, …): answered by a
// healthy backend, the first in configuration order so answers stay consistent, and kept for a
// short while because /object_info is large and POST /prompt validates against it.
import { LRUCache } from 'lru-cache';
import { BackendError } from '../comfy/client.js';
import type { Backend } from '../scheduler/backend.js';
import type { Routing } from '../scheduler/routing.js';

export interface InfoAnswer {
  status: number;
  body: unknown;
}

/** /object_info as ComfyUI answers it: node class → its definition. */
export type ObjectInfoBody = Record<string, unknown>;

/** No backend could answer: the client should retry later. */
export class NoBackend extends Error {}

/** Paths are partly chosen by clients (/models/{folder}): at most this many are kept. */
const MAX_ENTRIES = 256;

export class PoolInfo {
  private readonly cache: LRUCache<string, InfoAnswer>;

  constructor(
    private readonly backends: readonly Backend[],
    /** Once backends have described themselves: /object_info and model lists are the pool's union. */
    private readonly routing?: Routing,
    ttlMs = 30_000,
  ) {
    this.cache = new LRUCache<string, InfoAnswer>({
      max: MAX_ENTRIES,
      ttl: ttlMs,
      // Better a slightly old answer than none while the pool is briefly unreachable.
      allowStaleOnFetchRejection: true,
      noDeleteOnFetchRejection: true,
      noDeleteOnStaleGet: true,
      fetchMethod: (path) => this.fetch(path),
    });
  }

  /** Backends that can answer now, in configuration order. */
  private healthy(): Backend[] {
    return this.backends.filter((b) => b.healthy);
  }

  /** How many backends can answer now. */
  get healthyCount(): number {
    return this.healthy().length;
  }

  /** GET `path` from a healthy backend (cached); a 404 there is an answer, not a failure. */
  async get(path: string): Promise<InfoAnswer> {
    const learned = this.learned(path);
    if (learned) return learned;
    const answer = await this.cache.fetch(path);
    if (!answer) throw new NoBackend(`no backend answered ${path}`);
    return answer;
  }

  /** /object_info, or undefined when no backend can say (prompts are then checked by the backend). */
  async objectInfo(): Promise<ObjectInfoBody | undefined> {
    const learned = this.routing?.objectInfo();
    if (learned) return learned;
    // With no backend to ask, a fetch can only fail and fall back to what is kept: every accept
    // while the pool is down would pay for a failed fetch (an abort signal and an error) for nothing.
    if (this.healthyCount === 0) return this.cachedObjectInfo();
    try {
      const answer = await this.get('/object_info');
      return answer.status === 200 && typeof answer.body === 'object' && answer.body !== null ? (answer.body as ObjectInfoBody) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The last /object_info seen, however old, without asking anyone. */
  cachedObjectInfo(): ObjectInfoBody | undefined {
    const learned = this.routing?.objectInfo();
    if (learned) return learned;
    const body = this.cache.get('/object_info', { allowStale: true })?.body;
    return typeof body === 'object' && body !== null ? (body as ObjectInfoBody) : undefined;
  }

  /** /object_info, /models and /models/{folder} as the pool's union, once a backend has described itself. */
  private learned(path: string): InfoAnswer | undefined {
    const objectInfo = this.routing?.objectInfo();
    if (!objectInfo) return undefined;
    if (path === '/object_info') return { status: 200, body: objectInfo };
    const folders = this.routing!.modelFolders();
    // A backend without /models (older ComfyUI) lists no folder: ask it as before.
    if (folders.size === 0) return undefined;
    if (path === '/models') return { status: 200, body: [...folders.keys()] };
    if (path.startsWith('/models/')) {
      const files = folders.get(decodeURIComponent(path.slice('/models/'.length)));
      return files ? { status: 200, body: [...files] } : { status: 404, body: undefined };
    }
    return undefined;
  }

  /** /system_stats of every healthy backend that answers, in configuration order. */
  async systemStats(): Promise<{ url: string; stats: unknown }[]> {
    const healthy = this.healthy();
    const results = await Promise.allSettled(healthy.map((b) => b.client.systemStats()));
    return healthy.flatMap((b, i) => {
      const r = results[i];
      return r.status === 'fulfilled' ? [{ url: b.url, stats: r.value as unknown }] : [];
    });
  }

  private async fetch(path: string): Promise<InfoAnswer> {
    let last: Error | undefined;
    for (const backend of this.healthy()) {
      try {
        return { status: 200, body: await backend.client.getJson(path) };
      } catch (err) {
        if (err instanceof BackendError && err.status !== undefined && err.status >= 400 && err.status < 500) return { status: err.status, body: undefined };
        last = err as Error;
      }
    }
    throw new NoBackend(last ? `no backend answered ${path}: ${last.message}` : 'no ComfyUI backend is healthy right now');
  }
}
