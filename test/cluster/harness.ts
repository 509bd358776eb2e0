// Harness of the cluster tests: several bridge processes on one Redis. A throwaway redis-server
// (LocalRedisServer), simulated ComfyUI servers in this process, and bridges spawned as real
// processes from the sources (`node --import tsx src/main.ts`) that share REDIS_URL,
// COMFYUI_SERVERS, UPLOAD_DIR, WORKFLOW_DIR and API_KEYS, each on its own PORT and
// COMFY_COMPAT_PORT. Every process logs at info to stderr; the lines are kept and printed when a
// test written with `clusterTest` fails (or hangs past its deadline).
//
// Waiting is on conditions, never on the clock: `waitFor` polls a condition with a deadline,
// `SimLedger.until` re-checks one on every simulator event.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { LocalRedisServer } from '../../src/cluster/local-redis-server.js';
import type { LocalRedisOptions } from '../../src/cluster/local-redis-server.js';
import type { ComfySimulator, SimOptions } from '../../src/sim/index.js';
import { readPngText } from '../../src/sim/png.js';
import { readParts, startSims } from '../e2e/harness.js';
import { ComfyWs, samplerGraph } from '../compat/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The dispatcher lease of the tests, in seconds: a dead dispatcher is replaced within about this. */
export const LEASE_S = 2;
/** A bridge compiles its sources at start (tsx); several at once on a busy machine take a while. */
export const READY_TIMEOUT_MS = 90_000;

/** Two tenants, so work from several keys shares the cluster. */
export const KEYS = { alice: 'cluster-alice-key-000000000001', bob: 'cluster-bob-key-00000000000002' } as const;
export const ADMIN_TOKEN = 'cluster-admin-token-0000000003';

export type Role = 'dispatcher' | 'follower';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What a process inherits from the test run: enough to run node, none of the bridge's settings. */
const INHERITED = ['PATH', 'HOME', 'USER', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'TZ', 'SYSTEMROOT'];

/** Every process spawned by this test file, for the logs of a failure and the last clean-up. */
const spawned: BridgeProcess[] = [];
const redises = new Set<LocalRedisServer>();

// Should the test run end without afterAll (a crashed worker), take the children with it.
process.once('exit', () => {
  for (const p of spawned) if (p.alive) p.child.kill('SIGKILL');
  for (const r of redises) void r.kill();
});

/** Resolve after `ms`: the pace of a polling loop, never a way to let something happen. */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Thrown by a `waitFor` check when what it waits for can no longer happen: the wait ends at once. */
export class CannotHappen extends Error {}

/**
 * Poll `check` until it returns something other than undefined/false (which is then the answer),
 * or throw once `timeoutMs` has passed, saying what was awaited and the last thing seen. A check
 * that throws is tried again (the thing may not answer yet), unless it throws `CannotHappen`.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      if (err instanceof CannotHappen) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${seen})`);
    }
    await pause(intervalMs);
  }
}

/** `promise`, or an error naming `what` once `ms` have passed. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    // Unref'd: a deadline left behind by a failed test must not keep the run alive.
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref();
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `n` distinct ports that nobody listens on right now (held together, so none is given twice). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  body: any;
}

/** One HTTP request with an API key; one that gets no answer within `timeoutMs` throws, naming the request. */
export async function request(method: string, url: string, opts: { key?: string; json?: unknown; timeoutMs?: number } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${(err as Error).message} (${String((err as { cause?: { code?: string } }).cause?.code ?? '')})`;
    throw new Error(`${method} ${url}: ${why}`, { cause: err });
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** Does something listen on this loopback port? */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One bridge process: its ports, its captured log, its end. */
export class BridgeProcess {
  readonly child: ChildProcess;
  /** The curated door (and /readyz, /healthz). */
  readonly url: string;
  readonly wsUrl: string;
  /** The ComfyUI-compatible door. */
  readonly door: string;
  readonly doorWs: string;
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  /** stdout and stderr as they came. */
  private output = '';
  private errors = '';

  constructor(
    readonly name: string,
    readonly port: number,
    readonly compatPort: number,
    readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}`;
    this.door = `http://127.0.0.1:${compatPort}`;
    this.doorWs = `ws://127.0.0.1:${compatPort}`;
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer, stderr: boolean) => {
      this.output += chunk.toString();
      if (this.output.length > 4_000_000) this.output = this.output.slice(-2_000_000);
      if (stderr && this.errors.length < 1_000_000) this.errors += chunk.toString();
    };
    this.child.stdout!.on('data', (chunk: Buffer) => keep(chunk, false));
    this.child.stderr!.on('data', (chunk: Buffer) => keep(chunk, true));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    spawned.push(this);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** Everything the process wrote (its log lines are on stderr). */
  get log(): string {
    return this.output;
  }

  /** What it wrote on stderr (the first megabyte). */
  get stderr(): string {
    return this.errors;
  }

  /** The log as records: JSON lines parsed, other lines as `{ msg }`. */
  logRecords(): { level?: string; msg?: string; [k: string]: unknown }[] {
    return this.output
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        try {
          const record = JSON.parse(line);
          return typeof record === 'object' && record !== null ? record : { msg: line };
        } catch {
          return { msg: line };
        }
      });
  }

  /** GET /readyz; undefined when the process does not answer (not up, gone, or too busy). */
  async readyz(): Promise<{ status: number; body: any } | undefined> {
    try {
      const reply = await request('GET', `${this.url}/readyz`, { timeoutMs: 2000 });
      return { status: reply.status, body: reply.body };
    } catch {
      return undefined;
    }
  }

  /** What /readyz says this process is in its cluster (whatever the readiness). */
  async role(): Promise<Role | undefined> {
    return (await this.readyz())?.body?.cluster?.role;
  }

  /**
   * Resolve once GET /readyz answers 200 and the ComfyUI-compatible door takes connections; throw
   * (with the log) if the process ends first or it takes too long. /readyz is served by the
   * curated door, which starts listening before the compatible door does.
   */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.waitUntil(`${this.name} ready (GET /readyz 200)`, async () => (await this.readyz())?.status === 200, timeoutMs);
    await this.waitUntil(`${this.name}'s ComfyUI-compatible door to listen`, () => accepts(this.compatPort), Math.max(1000, deadline - Date.now()));
  }

  /** Resolve once the curated port answers anything at all. */
  async waitAnswering(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    await this.waitUntil(
      `${this.name} answering on ${this.url}`,
      () => fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(() => true, () => false),
      timeoutMs,
    );
  }

  /** Resolve with the first log record that matches (waiting for it up to `timeoutMs`). */
  waitLog(what: string, match: (record: { level?: string; msg?: string; [k: string]: unknown }) => boolean, timeoutMs = 10_000) {
    return this.waitUntil(`${this.name} to log ${what}`, () => this.logRecords().find(match), timeoutMs, 20);
  }

  /** Send a signal and resolve once the process has ended. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }

  /** Stop it gracefully (SIGTERM), or kill it if it does not end within `graceMs`. */
  async stop(graceMs = 5000): Promise<Exit> {
    if (!this.alive) return this.exit!;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), graceMs)));
    const ended = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    return ended ?? this.kill('SIGKILL');
  }

  describe(): string {
    const exit = this.exit ? `exited code=${this.exit.code} signal=${this.exit.signal}` : 'running';
    return `${this.name} pid ${this.pid} curated ${this.port} comfy ${this.compatPort} (${exit})`;
  }

  private async waitUntil<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, intervalMs = 50): Promise<T> {
    try {
      return await waitFor(what, async () => {
        const value = await check();
        if (value !== undefined && value !== false) return value;
        if (!this.alive) throw new CannotHappen(`${this.describe()} before ${what}`);
        return undefined;
      }, timeoutMs, intervalMs);
    } catch (err) {
      (err as Error).message += `\n--- log of ${this.describe()} ---\n${readableLog(this.log, 80)}`;
      throw err;
    }
  }
}

export interface ClusterOptions {
  /** Simulated ComfyUI servers (default 2). */
  sims?: number;
  sim?: SimOptions;
  /** Options of the cluster's redis-server. */
  redis?: LocalRedisOptions;
  /** Settings of every process (undefined removes one). */
  env?: Record<string, string | undefined>;
}

/** Bridge processes on one Redis over simulated backends, with a shared folder of their own. */
export class TestCluster {
  readonly processes: BridgeProcess[] = [];
  private count = 0;

  private constructor(
    readonly dir: string,
    readonly sims: ComfySimulator[],
    readonly redis: LocalRedisServer,
    private readonly env: Record<string, string | undefined>,
  ) {}

  static async create(options: ClusterOptions = {}): Promise<TestCluster> {
    const dir = await mkdtemp(path.join(tmpdir(), 'bridge-cluster-'));
    await cp(path.join(ROOT, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
    await cp(path.join(ROOT, 'test/fixtures/workflows'), path.join(dir, 'workflows'), { recursive: true });
    const sims = await startSims(options.sims ?? 2, { stepMs: 20, nodeMs: 1, ...options.sim });
    const redis = await LocalRedisServer.start(options.redis);
    redises.add(redis);
    return new TestCluster(dir, sims, redis, options.env ?? {});
  }

  /** The settings of one process: shared ones, its own ports and folders, then `overrides`. */
  settings(name: string, port: number, compatPort: number, overrides: Record<string, string | undefined> = {}): Record<string, string> {
    const own = path.join(this.dir, name);
    const env: Record<string, string | undefined> = {};
    for (const key of INHERITED) if (process.env[key] !== undefined) env[key] = process.env[key];
    Object.assign(env, {
      HOST: '127.0.0.1',
      PORT: String(port),
      COMFY_COMPAT_PORT: String(compatPort),
      REDIS_URL: this.redis.url,
      CLUSTER_LEASE: String(LEASE_S),
      COMFYUI_SERVERS: this.sims.map((s) => s.url).join(','),
      // Shared by every process of the cluster: the same folder.
      UPLOAD_DIR: path.join(this.dir, 'uploads'),
      WORKFLOW_DIR: path.join(this.dir, 'workflows'),
      WORKFLOW_ALIAS: path.join(ROOT, 'workflow_alias.json'),
      API_KEYS: `alice:${KEYS.alice},bob:${KEYS.bob}`,
      ADMIN_TOKEN,
      // Not used on Redis; each its own so that nothing lands in the checkout or is shared by accident.
      DATA_DIR: path.join(own, 'data'),
      CURRENT_STATE: path.join(own, 'current_state.json'),
      HEALTH_INTERVAL: '0.2',
      // A test's websocket that closes must not cancel work behind the test's back.
      DISCONNECT_GRACE: '30',
      LOG_LEVEL: process.env.CLUSTER_TEST_LOG_LEVEL ?? 'info',
      LOG_FORMAT: 'json',
    });
    Object.assign(env, this.env, overrides);
    return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  }

  /** Spawn one process (not waiting for it). */
  async spawn(overrides: Record<string, string | undefined> = {}, name = `bridge-${String.fromCharCode(65 + this.count)}`): Promise<BridgeProcess> {
    this.count++;
    const [port, compatPort] = await freePorts(2);
    const p = new BridgeProcess(name, port, compatPort, this.settings(name, port, compatPort, overrides));
    this.processes.push(p);
    return p;
  }

  /** Spawn `n` processes at once and resolve once every one is ready. */
  async start(n: number, overrides: Record<string, string | undefined> = {}): Promise<BridgeProcess[]> {
    return Promise.all(Array.from({ length: n }, () => this.startOne(overrides)));
  }

  /** Spawn one process and wait until it is ready; a port taken between probe and listen is tried again. */
  async startOne(overrides: Record<string, string | undefined> = {}): Promise<BridgeProcess> {
    for (let attempt = 0; ; attempt++) {
      const p = await this.spawn(overrides);
      try {
        await p.waitReady();
        return p;
      } catch (err) {
        if (attempt < 2 && !p.alive && /EADDRINUSE|already in use/.test(p.log)) {
          this.processes.splice(this.processes.indexOf(p), 1);
          continue;
        }
        throw err;
      }
    }
  }

  live(): BridgeProcess[] {
    return this.processes.filter((p) => p.alive);
  }

  /**
   * The dispatcher among `among` (the live processes by default), once exactly one of them says it
   * is and every other one answers as a follower.
   */
  async dispatcher(among = this.live(), timeoutMs = 15_000): Promise<BridgeProcess> {
    return waitFor(
      `exactly one dispatcher among ${among.map((p) => p.name).join(', ')}`,
      async () => {
        const roles = await Promise.all(among.map((p) => p.role()));
        const dispatchers = among.filter((_, i) => roles[i] === 'dispatcher');
        if (dispatchers.length !== 1 || roles.some((r) => r !== 'dispatcher' && r !== 'follower')) return undefined;
        return dispatchers[0];
      },
      timeoutMs,
    );
  }

  /** Stop every process, the simulators and Redis, and remove the folder (Redis even if a step before failed). */
  async close(): Promise<void> {
    try {
      await Promise.all(this.processes.map((p) => p.stop(3000)));
      await Promise.all(this.sims.map((s) => s.close()));
    } finally {
      await this.redis.close();
      redises.delete(this.redis);
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

/** A pino JSON line as `time level scope: msg {other fields}`; other lines as they are. */
function readableLine(line: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof r !== 'object' || r === null) return line;
  const { time, level, scope, msg, pid: _pid, hostname: _host, ...rest } = r;
  const at = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest).slice(0, 400)}` : '';
  return `${at} ${String(level ?? '').padEnd(5)} ${scope ?? ''}: ${msg ?? ''}${extra}`;
}

/** The request lines of the tests' own polling of /readyz and /healthz: noise when reading a failure. */
const PROBE = /"url":"\/(readyz|healthz)"/;

/** The last `lines` lines of a log, readable, without the probes' request lines. */
export function readableLog(log: string, lines = 600): string {
  const all = log.split('\n').filter((l) => l.trim() !== '');
  const kept = all.filter((l) => !PROBE.test(l));
  const shown = kept.slice(-lines).map(readableLine);
  const notes = [
    ...(all.length > kept.length ? [`(${all.length - kept.length} request lines of /readyz and /healthz left out)`] : []),
    ...(kept.length > lines ? [`… ${kept.length - lines} earlier lines`] : []),
  ];
  return notes.concat(shown).join('\n');
}

/** Write the logs of every process this test file spawned to stderr. */
export function printLogs(why: string): void {
  let out = `\n===== ${why}: logs of ${spawned.length} bridge process(es) =====\n`;
  for (const p of spawned) out += `\n----- ${p.describe()} -----\n${readableLog(p.log)}\n`;
  process.stderr.write(out);
}

/**
 * A test that prints the logs of every bridge process when it fails. It has its own deadline,
 * shorter than Jest's, so a test that hangs fails with the logs too.
 */
export function clusterTest(name: string, timeoutMs: number, body: () => Promise<void>): void {
  test(
    name,
    async () => {
      try {
        await within(timeoutMs, `the end of "${name}"`, body());
      } catch (err) {
        printLogs(`"${name}" failed: ${(err as Error).message.split('\n')[0]}`);
        throw err;
      }
    },
    timeoutMs + 15_000,
  );
}

/** Executions on the simulators, from their own events: per prompt_id, which simulator ran it, how it ended. */
export class SimLedger {
  /** prompt_id → index of the simulator, once per execution start. */
  readonly starts = new Map<string, number[]>();
  /** prompt_id → outcome, once per execution end. */
  readonly ends = new Map<string, string[]>();
  /** Per simulator: the most prompts it held (queued plus running) right after accepting one. */
  readonly mostHeld: number[];
  private readonly checks = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(private readonly sims: ComfySimulator[]) {
    this.mostHeld = sims.map(() => 0);
    const offs = sims.map((sim, i) => {
      const queued = () => {
        this.mostHeld[i] = Math.max(this.mostHeld[i], sim.queueRemaining);
        this.poke();
      };
      const started = (id: string) => {
        this.starts.set(id, [...(this.starts.get(id) ?? []), i]);
        this.poke();
      };
      const finished = (e: { promptId: string; status: string }) => {
        this.ends.set(e.promptId, [...(this.ends.get(e.promptId) ?? []), e.status]);
        this.poke();
      };
      sim.on('queued', queued);
      sim.on('started', started);
      sim.on('finished', finished);
      return () => {
        sim.off('queued', queued);
        sim.off('started', started);
        sim.off('finished', finished);
      };
    });
    this.unsubscribe = () => offs.forEach((off) => off());
  }

  /** How many times this prompt started executing, over every simulator. */
  runs(id: string): number {
    return this.starts.get(id)?.length ?? 0;
  }

  /** Executions finished so far, over every simulator. */
  finished(): number {
    let n = 0;
    for (const list of this.ends.values()) n += list.length;
    return n;
  }

  /** Execution starts per simulator. */
  perSim(): number[] {
    const counts = this.sims.map(() => 0);
    for (const list of this.starts.values()) for (const i of list) counts[i]++;
    return counts;
  }

  /** prompt_ids that started more than once: [id, times]. */
  duplicates(): [string, number][] {
    return [...this.starts].filter(([, list]) => list.length > 1).map(([id, list]) => [id, list.length]);
  }

  /** Resolve once `ready()` holds, checking now and after every simulator event; throw after `timeoutMs`. */
  until(what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
    if (ready()) return Promise.resolve();
    let check!: () => void;
    const reached = new Promise<void>((resolve) => {
      check = () => {
        if (!ready()) return;
        this.checks.delete(check);
        resolve();
      };
      this.checks.add(check);
    });
    return within(timeoutMs, what, reached).finally(() => this.checks.delete(check));
  }

  close(): void {
    this.unsubscribe();
    this.checks.clear();
  }

  private poke(): void {
    for (const check of [...this.checks]) check();
  }
}

/** A client of the curated door's websocket, `/ws?clientId=`, recording every message. */
export class CuratedFollower {
  readonly messages: { status: string; detail: string }[] = [];
  readonly closed: Promise<number>;
  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.on('message', (raw) => this.messages.push(JSON.parse(raw.toString())));
    ws.on('error', () => undefined);
  }

  /** Connect with an API key; resolves once the bridge said `connected`. */
  static async connect(bridge: BridgeProcess, clientId: string, key: string, timeoutMs = 10_000): Promise<CuratedFollower> {
    const ws = new WebSocket(`${bridge.wsUrl}/ws?clientId=${encodeURIComponent(clientId)}`, { headers: { authorization: `Bearer ${key}` } });
    const follower = new CuratedFollower(ws);
    await waitFor(`"connected" on ${bridge.name} for ${clientId}`, () => {
      if (follower.messages.some((m) => m.status === 'connected')) return true;
      if (ws.readyState === WebSocket.CLOSED) throw new CannotHappen(`the socket of ${clientId} on ${bridge.name} closed before "connected"`);
      return undefined;
    }, timeoutMs, 10);
    return follower;
  }

  statuses(): string[] {
    return this.messages.map((m) => m.status);
  }

  /** Resolve with the statuses once the bridge said `closed` and closed the socket. */
  async untilClosed(timeoutMs: number, what = 'the "closed" message'): Promise<string[]> {
    await within(timeoutMs, what, this.closed);
    return this.statuses();
  }

  close(): void {
    this.ws.close();
  }
}

/** A ComfyUI websocket client of a process's compatible door, with an API key. */
export function comfySocket(bridge: BridgeProcess, clientId: string, key: string): Promise<ComfyWs> {
  return ComfyWs.connect(bridge, clientId, { headers: { authorization: `Bearer ${key}` } });
}

/** The values that make a curated txt2img job recognisable in its PNG. */
export interface CuratedJob {
  seed: number;
  text: string;
  steps: number;
}

/** POST /generate-based-workflow (txt2img with this seed, text and step count). */
export function submitCurated(bridge: BridgeProcess, clientId: string, key: string, job: CuratedJob): Promise<Reply> {
  return request('POST', `${bridge.url}/generate-based-workflow?clientId=${encodeURIComponent(clientId)}`, {
    key,
    json: { workflow: 'txt2img', '3/seed': job.seed, '3/steps': job.steps, '6/text': job.text },
  });
}

/** POST /prompt on the compatible door: a sampler graph with this seed and step count, under this prompt_id. */
export function submitComfy(bridge: BridgeProcess, clientId: string, key: string, promptId: string, seed: number, steps: number): Promise<Reply> {
  return request('POST', `${bridge.door}/prompt`, { key, json: { prompt: samplerGraph(steps, seed), client_id: clientId, prompt_id: promptId } });
}

/** A curated client's results: GET /history, every part a PNG; what its tEXt says. */
export async function curatedResults(bridge: BridgeProcess, clientId: string, key: string): Promise<{ promptId: string; seed: number; text: string }[]> {
  const res = await fetch(`${bridge.url}/history?clientId=${encodeURIComponent(clientId)}`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`GET /history?clientId=${clientId} on ${bridge.name}: ${res.status} ${await res.text()}`);
  if (!/^multipart\/form-data; boundary=/.test(res.headers.get('content-type') ?? '')) throw new Error(`GET /history on ${bridge.name}: content-type ${res.headers.get('content-type')}`);
  const parts = await readParts(res);
  return parts.map((part) => {
    if (part.type !== 'image/png') throw new Error(`GET /history on ${bridge.name}: a part of type ${part.type}`);
    const text = readPngText(part.bytes);
    const prompt = JSON.parse(text.prompt);
    return { promptId: text.prompt_id, seed: prompt['3'].inputs.seed, text: prompt['6'].inputs.text };
  });
}

/**
 * A ComfyUI prompt's result through the compatible door: GET /history/{id} (a success, with the
 * SaveImage output), then GET /view of that image; what the PNG's tEXt says.
 */
export async function comfyResult(bridge: BridgeProcess, promptId: string, key: string): Promise<{ promptId: string; seed: number }> {
  const history = await request('GET', `${bridge.door}/history/${promptId}`, { key });
  const entry = history.body?.[promptId];
  if (history.status !== 200 || !entry) throw new Error(`GET /history/${promptId} on ${bridge.name}: ${history.status} ${history.text.slice(0, 300)}`);
  if (entry.status?.status_str !== 'success') throw new Error(`prompt ${promptId}: status ${JSON.stringify(entry.status)}`);
  const ref = entry.outputs?.['9']?.images?.[0];
  if (!ref) throw new Error(`prompt ${promptId}: no SaveImage output in ${JSON.stringify(entry.outputs)}`);
  const view = await fetch(`${bridge.door}/view?${new URLSearchParams(ref)}`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (view.status !== 200) throw new Error(`GET /view of ${promptId} on ${bridge.name}: ${view.status} ${await view.text()}`);
  if (view.headers.get('content-type') !== 'image/png') throw new Error(`GET /view of ${promptId}: content-type ${view.headers.get('content-type')}`);
  const text = readPngText(Buffer.from(await view.arrayBuffer()));
  return { promptId: text.prompt_id, seed: JSON.parse(text.prompt)['3'].inputs.seed };
}
