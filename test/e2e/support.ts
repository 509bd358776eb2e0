// Helpers for the bad-input and upload tests: hand-built multipart bodies, websocket upgrades
// that are refused, and a snapshot of everything a refused request must leave untouched.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { engineUntil, getJson, startBridge } from './harness.js';
import type { TestBridge } from './harness.js';

/** A bridge of its own on ephemeral ports only (no ComfyUI-compatible door on a fixed port). */
export function startOwnBridge(servers: string[], env: Record<string, string> = {}): Promise<TestBridge> {
  return startBridge(servers, { COMFY_COMPAT_PORT: '0', ...env });
}

export interface FormPart {
  name: string;
  /** Present for a file part. */
  filename?: string;
  contentType?: string;
  /** Extra part headers, written as given. */
  headers?: Record<string, string>;
  data: Buffer | string;
}

/** A multipart/form-data body with exactly the parts and part headers given. */
export function multipartBody(parts: FormPart[]): { body: Buffer; contentType: string } {
  const boundary = `----support-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType) head += `Content-Type: ${part.contentType}\r\n`;
    for (const [key, value] of Object.entries(part.headers ?? {})) head += `${key}: ${value}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`, 'latin1'), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export interface Answer {
  status: number;
  contentType: string | null;
  /** Parsed JSON, or the raw text when it is not JSON. */
  body: any;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body };
}

/** POST /upload with these parts. */
export async function upload(bridge: TestBridge, parts: FormPart[], query = ''): Promise<Answer> {
  const { body, contentType } = multipartBody(parts);
  const res = await fetch(`${bridge.url}/upload${query}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return answer(res);
}

/** Any request, answered as status, content type and parsed body. */
export async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  return answer(await fetch(url, init));
}

export type UpgradeResult = { opened: true } | { opened: false; status: number; contentType: string | undefined; body: any };

/** Try a websocket upgrade; a refusal comes back with its HTTP status and body. */
export function tryUpgrade(url: string): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        const type = res.headers['content-type'];
        resolve({ opened: false, status: res.statusCode ?? 0, contentType: Array.isArray(type) ? type[0] : type, body });
      });
    });
    ws.on('open', () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

export interface Footprint {
  generationCount: number;
  jobs: number;
  received: number;
  prompts: number;
  rejected: number;
  uploads: number;
}

/** What a refused request must not change: jobs, the generation count, and every backend's intake. */
export async function footprint(bridge: TestBridge, sims: ComfySimulator[]): Promise<Footprint> {
  const count = await getJson(`${bridge.url}/generation-count`);
  const sum = (f: (s: ComfySimulator) => number) => sims.reduce((n, s) => n + f(s), 0);
  return {
    generationCount: count.body as number,
    jobs: [...bridge.engine.jobs()].length,
    received: sum((s) => s.receivedPrompts().length),
    prompts: sum((s) => s.stats.prompts),
    rejected: sum((s) => s.stats.rejected),
    uploads: sum((s) => s.stats.uploads),
  };
}

/** Resolve with the job once it reaches one of these states. */
export function jobState(bridge: TestBridge, jobId: string, states: string[]): Promise<{ id: string; state: string; backend?: string }> {
  const { engine } = bridge;
  const reached = () => {
    const job = engine.get(jobId);
    return job !== undefined && states.includes(job.state);
  };
  return engineUntil(engine, reached).then(() => engine.get(jobId)!);
}
