// Shared pieces of the benchmarks: statistics, temp dirs, bridges (in-process or child process),
// RSS and CPU sampling, and small HTTP/websocket clients.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { CURATED_DOOR } from '../src/server/sessions.js';
import { run } from '../src/run.js';
import type { Running } from '../src/run.js';
import { Catalog, checkSubmission, patchWorkflow } from '../src/workflows/index.js';
import type { Job } from '../src/jobs/job.js';
import { newJob } from '../src/jobs/job.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ── results ─────────────────────────────────────────────────────────────────────────────────

export interface Row {
  metric: string;
  target: string;
  measured: string;
  baseline: string;
  ratio: string;
  /** Whether the target is met; undefined when the row has no target. */
  met?: boolean;
}

export interface BenchResult {
  rows: Row[];
  /** Method, and for a missed target the measured cause. */
  note: string;
}

export interface Benchmark {
  name: string;
  title: string;
  /** Seconds after which a run counts as failed, when it needs more than run.ts's default. */
  limitS?: number;
  run(opts: BenchOptions): Promise<BenchResult>;
}

export interface BenchOptions {
  /** Write CPU profiles of child-process bridges here. */
  profileDir?: string;
  /** Fewer repetitions (for a quick look); figures are noisier. */
  quick: boolean;
  log(message: string): void;
}

// ── statistics ──────────────────────────────────────────────────────────────────────────────

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Linear-interpolated percentile (p in 0..100); NaN for no samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

export function sum(xs: readonly number[]): number {
  let t = 0;
  for (const x of xs) t += x;
  return t;
}

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratioText(measured: number, baseline: number, digits = 2): string {
  if (!Number.isFinite(measured) || !Number.isFinite(baseline) || baseline === 0) return 'n/a';
  return `${fmt(measured / baseline, digits)}×`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = () => performance.now();

// ── temp dirs and bridge settings ───────────────────────────────────────────────────────────

export interface BenchDir {
  dir: string;
  env: Record<string, string>;
  dispose(): Promise<void>;
}

/**
 * A temp folder with its own copy of the workflows, and the environment of a bridge living in it:
 * the bridge's defaults except for paths, loopback, no ComfyUI-compatible door, and LOG_LEVEL error.
 */
export async function benchDir(servers: string[], env: Record<string, string> = {}): Promise<BenchDir> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bridge-bench-'));
  const workflows = path.join(dir, 'workflows');
  await cp(path.join(ROOT, 'workflows'), workflows, { recursive: true });
  await cp(path.join(ROOT, 'workflow_alias.json'), path.join(dir, 'workflow_alias.json'));
  await mkdir(path.join(dir, 'data'), { recursive: true });
  return {
    dir,
    env: {
      HOST: '127.0.0.1',
      PORT: '0',
      COMFY_COMPAT_PORT: '0',
      COMFYUI_SERVERS: servers.join(','),
      WORKFLOW_DIR: workflows,
      WORKFLOW_ALIAS: path.join(dir, 'workflow_alias.json'),
      CURRENT_STATE: path.join(dir, 'current_state.json'),
      UPLOAD_DIR: path.join(dir, 'uploads'),
      DATA_DIR: path.join(dir, 'data'),
      LOG_LEVEL: 'error',
      ...env,
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A loopback port nobody listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// ── bridges ─────────────────────────────────────────────────────────────────────────────────

export interface BridgeHandle {
  url: string;
  wsUrl: string;
  /** Process id when it runs in a child process. */
  pid?: number;
  /** The running bridge when it runs in this process. */
  running?: Running;
  stop(): Promise<void>;
}

export async function inProcessBridge(env: Record<string, string>): Promise<BridgeHandle> {
  const running = await run(loadConfig(env));
  const url = running.server.url;
  return { url, wsUrl: url.replace(/^http/, 'ws'), running, stop: () => running.stop() };
}

/** Child processes still running: killed when this process exits, whatever happened. */
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export interface ChildBridge extends BridgeHandle {
  pid: number;
  child: ChildProcess;
  /** Milliseconds from spawn to the first 200 on /workflow-list. */
  readyMs: number;
  stderr(): string;
}

/**
 * `node --import tsx src/main.ts` with this environment, cwd the repository root. Ready once
 * GET /workflow-list answers 200 (polled every 2 ms).
 */
export async function childBridge(env: Record<string, string>, { profileDir, nodeArgs = [] }: { profileDir?: string; nodeArgs?: string[] } = {}): Promise<ChildBridge> {
  const port = env.PORT && env.PORT !== '0' ? Number(env.PORT) : await freePort();
  const args = [...nodeArgs, '--import', 'tsx'];
  if (profileDir) args.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  args.push('src/main.ts');
  const started = now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  let errText = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (errText.length < 20_000) errText += d.toString();
  });
  const exited = once(child, 'exit').catch(() => undefined);
  const url = `http://127.0.0.1:${port}`;
  let readyMs = NaN;
  const agent = new Agent({ connections: 1 });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the bridge exited with ${child.exitCode}: ${errText}`);
      if (now() - started > 60_000) throw new Error(`the bridge did not get ready in 60 s: ${errText}`);
      try {
        const res = await request(`${url}/workflow-list`, { dispatcher: agent });
        await res.body.dump();
        if (res.statusCode === 200) {
          readyMs = now() - started;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(2);
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    await agent.close();
  }
  let stopping: Promise<void> | undefined;
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    pid: child.pid!,
    child,
    readyMs,
    stderr: () => errText,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

// ── process counters ────────────────────────────────────────────────────────────────────────

/** VmRSS and VmHWM of a process, in bytes. */
export async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Reset a process's VmHWM to its current RSS (Linux clear_refs 5); false when not allowed. */
export async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Samples a process's RSS every `everyMs`, keeping the highest. */
export class RssSampler {
  peak = 0;
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly pid: number, private readonly everyMs = 5) {}

  start(): this {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      memoryOf(this.pid)
        .then((m) => {
          this.samples++;
          if (m.rss > this.peak) this.peak = m.rss;
        })
        .catch(() => undefined)
        .finally(() => (this.busy = false));
    }, this.everyMs);
    return this;
  }

  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}

// ── clients ─────────────────────────────────────────────────────────────────────────────────

export interface Http {
  agent: Agent;
  getJson<T = any>(url: string): Promise<{ status: number; body: T }>;
  postJson<T = any>(url: string, body: unknown): Promise<{ status: number; body: T }>;
  /** GET and read the whole body; answers its size. */
  getBytes(url: string): Promise<{ status: number; bytes: number }>;
  close(): Promise<void>;
}

export function httpClient(connections = 256): Http {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  return {
    agent,
    async getJson(url) {
      const res = await request(url, { dispatcher: agent });
      const text = await res.body.text();
      return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
    },
    async postJson(url, body) {
      const res = await request(url, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.body.text();
      let parsed: any;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      return { status: res.statusCode, body: parsed };
    },
    async getBytes(url) {
      const res = await request(url, { dispatcher: agent });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      return { status: res.statusCode, bytes };
    },
    close: () => agent.close(),
  };
}

/** A websocket that hands each parsed JSON message to `onMessage` and can wait for one. */
export class JsonSocket {
  readonly ws: WebSocket;
  private waiters: { pred: (m: any) => boolean; resolve: (m: any) => void; reject: (e: Error) => void }[] = [];
  onMessage: ((msg: any, at: number) => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.closed = new Promise((resolve) => this.ws.once('close', () => resolve()));
    this.ws.on('error', () => undefined);
    this.ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const at = now();
      const msg = JSON.parse(raw.toString());
      this.onMessage?.(msg, at);
      if (this.waiters.length === 0) return;
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
    this.ws.once('close', () => {
      for (const w of this.waiters) w.reject(new Error('socket closed'));
      this.waiters = [];
    });
  }

  /** Open; resolves once open, or once the first message matching `first` arrived. */
  static async open(url: string, first?: (m: any) => boolean): Promise<JsonSocket> {
    const s = new JsonSocket(url);
    const ready = first ? s.next(first) : once(s.ws, 'open');
    await Promise.race([ready, once(s.ws, 'close').then(() => Promise.reject(new Error(`${url} closed before opening`)))]);
    return s;
  }

  next(pred: (m: any) => boolean): Promise<any> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.CLOSED) return reject(new Error('socket closed'));
      this.waiters.push({ pred, resolve, reject });
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

/** Run `count` tasks on `workers` concurrent loops. */
export async function pool(count: number, workers: number, task: (i: number, worker: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, count) }, async (_, w) => {
      while (next < count) await task(next++, w);
    }),
  );
}

// ── jobs as the bridge stores them ──────────────────────────────────────────────────────────

/** Build jobs exactly as the curated door would (checked and patched by the bridge's own code). */
export async function makeJobs(
  count: number,
  alias: string,
  values: (i: number) => Record<string, unknown>,
  fields: (i: number, job: Job) => Partial<Job> = () => ({}),
): Promise<Job[]> {
  const catalog = await Catalog.load({ dir: path.join(ROOT, 'workflows'), aliasFile: path.join(ROOT, 'workflow_alias.json') });
  const wf = catalog.get(alias);
  if (!wf) throw new Error(`no workflow ${alias}`);
  const t0 = Date.now() - count;
  const jobs: Job[] = [];
  for (let i = 0; i < count; i++) {
    const body = { workflow: alias, ...values(i) };
    const check = checkSubmission(wf, body, () => false);
    if (!check.ok) throw new Error(`bad bench submission: ${check.problems.join('; ')}`);
    const prompt = patchWorkflow(wf.graph, check.values) as ComfyPrompt;
    const job = newJob({ id: crypto.randomUUID(), clientId: `bench-prefill-${i}`, door: CURATED_DOOR, workflow: wf.alias, prompt, uploads: [], createdAt: t0 + i });
    Object.assign(job, fields(i, job));
    jobs.push(job);
  }
  return jobs;
}

/** Write jobs to DATA_DIR/jobs.json in the job store's own format (JobStore.serialize). */
export async function writeStore(dataDir: string, jobs: readonly Job[]): Promise<number> {
  await mkdir(dataDir, { recursive: true });
  const text = `{"version":1,"jobs":[\n${jobs.map((j) => JSON.stringify(j)).join(',\n')}\n]}\n`;
  await writeFile(path.join(dataDir, 'jobs.json'), text);
  return Buffer.byteLength(text);
}

/** The prompt of a workflow file as a ComfyUI client would send it. */
export async function workflowGraph(alias: string): Promise<ComfyPrompt> {
  const aliases = JSON.parse(await readFile(path.join(ROOT, 'workflow_alias.json'), 'utf8')) as Record<string, string>;
  return JSON.parse(await readFile(path.join(ROOT, 'workflows', aliases[alias] ?? `${alias}.json`), 'utf8')) as ComfyPrompt;
}

export function mib(bytes: number): string {
  return `${fmt(bytes / 1024 / 1024, 1)} MB`;
}
