// Read-only information a client asks ComfyUI for (/object_info, /models, …): answered by a
// healthy backend, the first in configuration order so answers stay consistent, and kept for a
// short while because /object_info is large and POST /prompt validates against it.
import { BackendError } from '../comfy/client.js';
import type { Backend } from '../scheduler/backend.js';
import type { ObjectInfo } from './validation.js';

export interface InfoAnswer {
  status: number;
  body: unknown;
}

/** No backend could answer: the client should retry later. */
export class NoBackend extends Error {}

/** Paths are partly chosen by clients (/models/{folder}): the cache starts over beyond this. */
const MAX_ENTRIES = 256;

interface Cached {
  answer: InfoAnswer;
  at: number;
}

export class BackendInfo {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<InfoAnswer>>();

  constructor(
    private readonly backends: readonly Backend[],
    private readonly ttlMs = 30_000,
  ) {}

  /** Backends that can answer now, in configuration order. */
  healthy(): Backend[] {
    return this.backends.filter((b) => b.healthy);
  }

  /** GET `path` from a healthy backend (cached); a 404 there is an answer, not a failure. */
  async get(path: string): Promise<InfoAnswer> {
    const hit = this.cache.get(path);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.answer;
    let pending = this.inFlight.get(path);
    if (!pending) {
      pending = this.fetch(path).finally(() => this.inFlight.delete(path));
      this.inFlight.set(path, pending);
    }
    try {
      return await pending;
    } catch (err) {
      // Better a slightly old answer than none while the pool is briefly unreachable.
      if (hit) return hit.answer;
      throw err;
    }
  }

  /** /object_info, or undefined when no backend can say (prompts are then checked by the backend). */
  async objectInfo(): Promise<ObjectInfo | undefined> {
    try {
      const answer = await this.get('/object_info');
      return answer.status === 200 && typeof answer.body === 'object' && answer.body !== null ? (answer.body as ObjectInfo) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The last /object_info seen, however old, without asking anyone. */
  cachedObjectInfo(): ObjectInfo | undefined {
    const body = this.cache.get('/object_info')?.answer.body;
    return typeof body === 'object' && body !== null ? (body as ObjectInfo) : undefined;
  }

  private remember(path: string, answer: InfoAnswer): InfoAnswer {
    if (this.cache.size >= MAX_ENTRIES && !this.cache.has(path)) this.cache.clear();
    this.cache.set(path, { answer, at: Date.now() });
    return answer;
  }

  private async fetch(path: string): Promise<InfoAnswer> {
    let last: Error | undefined;
    for (const backend of this.healthy()) {
      try {
        return this.remember(path, { status: 200, body: await backend.client.getJson(path) });
      } catch (err) {
        if (err instanceof BackendError && err.status !== undefined && err.status >= 400 && err.status < 500) {
          return this.remember(path, { status: err.status, body: undefined });
        }
        last = err as Error;
      }
    }
    throw new NoBackend(last ? `no backend answered ${path}: ${last.message}` : 'no ComfyUI backend is healthy right now');
  }
}
