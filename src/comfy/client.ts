// HTTP client for ONE ComfyUI server, over a keep-alive undici pool.
// Every call has a timeout; transport failures and unexpected statuses become BackendError.
import PQueue from 'p-queue';
import { Pool, FormData } from 'undici';
import type { Dispatcher } from 'undici';
import type { ComfyPrompt, FileRef, HistoryEntry, NodeErrors, PromptError } from './protocol.js';

export class BackendError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** A status as errors say it: a 401 names the likely cause. */
function status(code: number): string {
  return code === 401 ? '401 (credentials missing or refused)' : String(code);
}

export type QueuePromptResult =
  | { accepted: true; number: number; nodeErrors: NodeErrors }
  | { accepted: false; status: number; error: PromptError | string | undefined; nodeErrors: NodeErrors | unknown[] | undefined };

export interface QueueSnapshot {
  running: string[];
  pending: string[];
}

export interface ClientOptions {
  timeoutMs: number;
  /** Authorization header for every request (a proxy's Basic or Bearer credentials); never shown. */
  authorization?: string;
  connections?: number;
  /** Input uploads and history deletes in flight at once toward this backend. */
  sideWorkConcurrency?: number;
}

/**
 * Uploads and history deletes are side work: a burst of them (a job with many inputs, a client
 * collecting many results) must not take every pooled connection from prompt submissions and
 * health probes, nor swamp a ComfyUI whose aiohttp handlers share the GPU process. Four at a
 * time keeps a batch moving while leaving most of the pool free.
 */
export const SIDE_WORK_CONCURRENCY = 4;

export class ComfyClient {
  private readonly pool: Pool;
  /**
   * Files handed on to clients (/view): a slow reader holds its connection for as long as it
   * reads, so these get connections of their own and never starve the bounded control pool.
   */
  private readonly files: Pool;
  private readonly sideWork: PQueue;
  private readonly options: Omit<ClientOptions, 'authorization'>;
  /** Not a plain property: a client logged or inspected by mistake shows no credentials. */
  #authorization: string | undefined;

  /** `baseUrl` has no credentials (errors quote it); they come as `authorization`. */
  constructor(readonly baseUrl: string, { authorization, ...options }: ClientOptions) {
    this.options = options;
    this.#authorization = authorization;
    this.pool = new Pool(baseUrl, {
      connections: options.connections ?? 16,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: options.timeoutMs,
      keepAliveTimeout: 10_000,
    });
    this.files = new Pool(baseUrl, {
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: options.timeoutMs,
      keepAliveTimeout: 10_000,
    });
    this.sideWork = new PQueue({ concurrency: options.sideWorkConcurrency ?? SIDE_WORK_CONCURRENCY });
  }

  /** Use other credentials from the next request on. */
  authorize(authorization: string | undefined): void {
    this.#authorization = authorization;
  }

  /** The headers every request carries, plus these. */
  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.#authorization === undefined ? extra : { ...extra, authorization: this.#authorization };
  }

  /** Uploads and history deletes waiting for their turn. */
  get sideWorkWaiting(): number {
    return this.sideWork.size;
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close().catch(() => undefined), this.files.close().catch(() => undefined)]);
  }

  /** Abort everything in flight at once (used when a backend is given up on). */
  async destroy(): Promise<void> {
    await Promise.all([this.pool.destroy().catch(() => undefined), this.files.destroy().catch(() => undefined)]);
  }

  private async request(method: Dispatcher.HttpMethod, path: string, body?: unknown, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    try {
      return await this.pool.request({
        method,
        path,
        headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new BackendError(`${method} ${path} on ${this.baseUrl} failed: ${(err as Error).message}`);
    }
  }

  private async json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    const text = await res.body.text().catch((err) => {
      throw new BackendError(`${method} ${path} on ${this.baseUrl}: body lost: ${(err as Error).message}`);
    });
    if (res.statusCode !== 200) throw new BackendError(`${method} ${path} on ${this.baseUrl} answered ${status(res.statusCode)}`, res.statusCode);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new BackendError(`${method} ${path} on ${this.baseUrl} answered invalid JSON`, res.statusCode);
    }
  }

  private async action(path: string, body: unknown): Promise<void> {
    const res = await this.request('POST', path, body);
    await res.body.dump().catch(() => undefined);
    if (res.statusCode !== 200) throw new BackendError(`POST ${path} on ${this.baseUrl} answered ${status(res.statusCode)}`, res.statusCode);
  }

  /**
   * POST /prompt. A 400 is an answer (the backend rejected the graph), not a failure;
   * anything else unexpected throws, because then we do not know whether the prompt was queued.
   */
  async queuePrompt(args: { prompt: ComfyPrompt; promptId: string; clientId: string; extraData?: Record<string, unknown> }): Promise<QueuePromptResult> {
    const res = await this.request('POST', '/prompt', {
      prompt: args.prompt,
      prompt_id: args.promptId,
      client_id: args.clientId,
      extra_data: args.extraData ?? {},
    });
    const text = await res.body.text().catch(() => '');
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.statusCode === 200 && body && typeof body === 'object') {
      return { accepted: true, number: Number(body.number ?? 0), nodeErrors: body.node_errors && !Array.isArray(body.node_errors) ? body.node_errors : {} };
    }
    if (res.statusCode === 400 && body && typeof body === 'object') {
      return { accepted: false, status: 400, error: body.error, nodeErrors: body.node_errors };
    }
    throw new BackendError(`POST /prompt on ${this.baseUrl} answered ${status(res.statusCode)}${text ? `: ${text.slice(0, 200)}` : ''}`, res.statusCode);
  }

  async queueRemaining(): Promise<number> {
    const body = await this.json<{ exec_info?: { queue_remaining?: number } }>('GET', '/prompt');
    return Number(body.exec_info?.queue_remaining ?? 0);
  }

  async queue(): Promise<QueueSnapshot> {
    const body = await this.json<{ queue_running?: unknown[][]; queue_pending?: unknown[][] }>('GET', '/queue');
    const ids = (items: unknown[][] | undefined) => (items ?? []).map((item) => String(item[1]));
    return { running: ids(body.queue_running), pending: ids(body.queue_pending) };
  }

  /** The history entry of one prompt, or undefined while it is unknown, queued or running. */
  async history(promptId: string): Promise<HistoryEntry | undefined> {
    const body = await this.json<Record<string, HistoryEntry>>('GET', `/history/${encodeURIComponent(promptId)}`);
    return body[promptId];
  }

  async deleteHistory(promptIds: string[]): Promise<void> {
    await this.sideWork.add(() => this.action('/history', { delete: promptIds }));
  }

  async deleteQueued(promptIds: string[]): Promise<void> {
    await this.action('/queue', { delete: promptIds });
  }

  /** Targeted when promptId is given (ComfyUI 0.3.57+ ignores it if that prompt is not the running one). */
  async interrupt(promptId?: string): Promise<void> {
    await this.action('/interrupt', promptId ? { prompt_id: promptId } : {});
  }

  async free(options: { unload_models: boolean; free_memory: boolean }): Promise<void> {
    await this.action('/free', options);
  }

  async systemStats(): Promise<any> {
    return this.json('GET', '/system_stats');
  }

  async getJson<T = unknown>(path: string): Promise<T> {
    return this.json<T>('GET', path);
  }

  /** Upload an input image; answers the name ComfyUI stored it under (it may differ from the one sent). */
  uploadImage(name: string, bytes: Buffer, options: { overwrite?: boolean; subfolder?: string } = {}): Promise<FileRef> {
    // The timeout starts when the upload does, not while it waits its turn.
    return this.sideWork.add(() => this.sendImage(name, bytes, options));
  }

  private async sendImage(name: string, bytes: Buffer, options: { overwrite?: boolean; subfolder?: string }): Promise<FileRef> {
    const form = new FormData();
    form.set('image', new Blob([bytes]), name);
    form.set('overwrite', options.overwrite === false ? 'false' : 'true');
    form.set('type', 'input');
    if (options.subfolder) form.set('subfolder', options.subfolder);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({ method: 'POST', path: '/upload/image', headers: this.headers(), body: form, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (err) {
      throw new BackendError(`POST /upload/image on ${this.baseUrl} failed: ${(err as Error).message}`);
    }
    const text = await res.body.text().catch(() => '');
    if (res.statusCode !== 200) throw new BackendError(`POST /upload/image on ${this.baseUrl} answered ${status(res.statusCode)}`, res.statusCode);
    const body = JSON.parse(text) as { name: string; subfolder?: string; type?: string };
    return { filename: body.name, subfolder: body.subfolder ?? '', type: body.type ?? 'input' };
  }

  /** Open an output file for streaming; the caller consumes or destroys `body`. */
  /**
   * GET (or HEAD) /view as the backend answers it, whatever the status: for relaying a file to a
   * client with its Range, preview and channel parameters.
   */
  async viewAsIs(file: FileRef, options: { head?: boolean; range?: string; params?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Dispatcher.ResponseData> {
    const query = new URLSearchParams({ filename: file.filename, type: file.type, subfolder: file.subfolder, ...options.params });
    try {
      return await this.files.request({
        method: options.head ? 'HEAD' : 'GET',
        path: `/view?${query}`,
        headers: this.headers(options.range ? { range: options.range } : {}),
        signal: options.signal,
      });
    } catch (err) {
      throw new BackendError(`GET /view on ${this.baseUrl} failed: ${(err as Error).message}`);
    }
  }

  async view(file: FileRef, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
    let res: Dispatcher.ResponseData;
    try {
      res = await this.files.request({ method: 'GET', path: `/view?${query}`, headers: this.headers(), signal });
    } catch (err) {
      throw new BackendError(`GET /view on ${this.baseUrl} failed: ${(err as Error).message}`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw new BackendError(`GET /view ${file.filename} on ${this.baseUrl} answered ${status(res.statusCode)}`, res.statusCode);
    }
    return res;
  }
}
