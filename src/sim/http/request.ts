// A parsed HTTP request as route handlers see it, with aiohttp's body rules:
// one size limit for every body, and JSON read without looking at Content-Type.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

export class PayloadTooLarge extends Error {
  constructor(
    readonly limit: number,
    readonly actual: number,
  ) {
    super(`Maximum request body size ${limit} exceeded, actual body size ${actual}`);
  }
}

export class InvalidJson extends Error {}

export class SimRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  params: Record<string, string> = {};
  private bodyPromise: Promise<Buffer> | null = null;

  constructor(
    private readonly raw: IncomingMessage,
    url: URL,
    /** Path with any /api prefix removed. */
    path: string,
    private readonly maxBodyBytes: number,
  ) {
    this.method = (raw.method ?? 'GET').toUpperCase();
    this.path = path;
    this.query = url.searchParams;
    this.headers = raw.headers;
  }

  get contentType(): string {
    return String(this.headers['content-type'] ?? '');
  }

  body(): Promise<Buffer> {
    this.bodyPromise ??= this.readBody();
    return this.bodyPromise;
  }

  /** request.json(): invalid or empty bodies throw InvalidJson (a 500 for the client). */
  async json(): Promise<unknown> {
    const body = await this.body();
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new InvalidJson('invalid JSON body');
    }
  }

  private readBody(): Promise<Buffer> {
    const declared = Number(this.raw.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > this.maxBodyBytes) {
      return Promise.reject(new PayloadTooLarge(this.maxBodyBytes, declared));
    }
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let failed = false;
      this.raw.on('data', (chunk: Buffer) => {
        if (failed) return;
        size += chunk.length;
        if (size > this.maxBodyBytes) {
          failed = true;
          parts.length = 0;
          reject(new PayloadTooLarge(this.maxBodyBytes, size));
          return;
        }
        parts.push(chunk);
      });
      this.raw.on('end', () => {
        if (!failed) resolve(Buffer.concat(parts));
      });
      this.raw.on('error', (err) => {
        if (!failed) reject(err);
        failed = true;
      });
      this.raw.on('aborted', () => {
        if (!failed) reject(new Error('request aborted'));
        failed = true;
      });
    });
  }
}
