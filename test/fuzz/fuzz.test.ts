// A seeded storm of hostile requests over every route and websocket of both doors, against a
// bridge running as its own process while well-behaved clients run jobs through it. It must
// answer every request with a 4xx (never a 5xx), not crash, keep its memory and its files
// bounded, keep answering a cheap GET (its latency is printed; the hostile benchmark measures it), and finish every well-behaved job with its result.
//
// FUZZ_N sets the number of hostile requests (default 10,000), FUZZ_SEED replays a run.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { cp, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { startSims } from '../e2e/harness.js';
import { freePort, imageGraph } from '../compat/harness.js';
import { Rng, hostile } from './hostile.js';
import type { Hostile } from './hostile.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const N = Number(process.env.FUZZ_N ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const CONCURRENCY = 16;
const GOOD = 'good-client-key-000000000001';
const HOSTILE = 'hostile-client-key-0000000002';
const ADMIN = 'fuzz-admin-token-000000000003';
/** Slow clients the server must cut off by itself. */
const SLOW_CLIENTS = 12;
// Short enough to see slow clients cut off within the run; long enough that a busy test process
// (it also runs the simulators and writes multi-megabyte bodies) is not taken for one.
const REQUEST_TIMEOUT_S = 10;

const TIMEOUT_MS = Math.max(120_000, N * 30);

interface BridgeProcess {
  child: ChildProcess;
  curated: string;
  comfy: string;
  exited: Promise<number | null>;
  log: () => string;
}

let sims: ComfySimulator[];
let dir: string;
let bridge: BridgeProcess;

async function spawnBridge(): Promise<BridgeProcess> {
  const [curatedPort, comfyPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [...(process.env.FUZZ_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FUZZ_PROFILE}`] : []), '--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(curatedPort),
      COMFY_COMPAT_PORT: String(comfyPort),
      COMFYUI_SERVERS: sims.map((s) => s.url).join(','),
      DATA_DIR: path.join(dir, 'data'),
      UPLOAD_DIR: path.join(dir, 'uploads'),
      CURRENT_STATE: path.join(dir, 'current_state.json'),
      WORKFLOW_DIR: path.join(dir, 'workflows'),
      WORKFLOW_ALIAS: path.join(ROOT, 'workflow_alias.json'),
      API_KEYS: `good:${GOOD},hostile:${HOSTILE}`,
      ADMIN_TOKEN: ADMIN,
      WEBHOOK_SECRET: 'whsec_ZnV6ei13ZWJob29rLXNlY3JldC0wMDAwMDAwMDAwMDA=',
      WEBHOOK_TIMEOUT: '1',
      HEALTH_INTERVAL: '0.2',
      DISCONNECT_GRACE: '0',
      REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_S),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr!.on('data', (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 1_000_000) log = log.slice(-500_000);
  });
  const curated = `http://127.0.0.1:${curatedPort}`;
  // Up once the port answers (any answer: without a key it is a 401).
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bridge exited with ${child.exitCode}:\n${log}`);
    const up = await fetch(`${curated}/workflow-list`).then(() => true, () => false);
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, curated, comfy: `http://127.0.0.1:${comfyPort}`, exited, log: () => log };
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

beforeAll(async () => {
  sims = await startSims(2, { stepMs: 1 });
  dir = await mkdtemp(path.join(tmpdir(), 'bridge-fuzz-'));
  await cp(path.join(ROOT, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
  await cp(path.join(ROOT, 'test/fixtures/workflows'), path.join(dir, 'workflows'), { recursive: true });
  bridge = await spawnBridge();
}, 60_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) {
    bridge.child.kill(process.env.FUZZ_PROFILE ? 'SIGTERM' : 'SIGKILL');
    await bridge.exited;
  }
  await Promise.all((sims ?? []).map((s) => s.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Tally {
  byStatus: Map<number, number>;
  /** The slowest answers, to say where the time went when the event loop check fails. */
  slowest: { ms: number; what: string }[];
  serverErrors: string[];
  noAnswer: string[];
  /** Base names of files that an upload answered 200 for: the only files allowed to remain. */
  uploaded: Set<string>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function describe(h: Hostile): string {
  if (h.kind === 'http') return `${h.door} ${h.method} ${h.path.slice(0, 120)} (${h.body?.length ?? 0} bytes)`;
  if (h.kind === 'raw') return `${h.door} raw ${JSON.stringify(h.data.subarray(0, 60).toString('latin1'))}`;
  return `${h.door} ws ${h.path.slice(0, 120)}`;
}

function baseOf(h: Hostile): string {
  return h.door === 'curated' ? bridge.curated : bridge.comfy;
}

function sendHttp(h: Extract<Hostile, { kind: 'http' }>, tally: Tally, key: string): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(baseOf(h));
    const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...h.headers };
    if (h.body) headers['content-length'] = String(h.body.length);
    const t0 = performance.now();
    const req = http.request({ host: url.hostname, port: url.port, method: h.method, path: h.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
        tally.slowest.push({ ms: performance.now() - t0, what: `${status} ${describe(h)}` });
        if (tally.slowest.length > 40) tally.slowest.sort((a, b) => b.ms - a.ms).splice(10);
        if (status >= 500) tally.serverErrors.push(`${status} for ${describe(h)}: ${Buffer.concat(chunks).toString().slice(0, 200)}`);
        if (status === 200 && h.path.startsWith('/upload') || (status === 200 && h.path.includes('/upload'))) {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString());
            for (const v of Object.values(body)) if (typeof v === 'string') tally.uploaded.add(path.basename(v));
          } catch {
            // not JSON: nothing was named
          }
        }
        resolve();
      });
      res.on('error', () => resolve());
    });
    req.setTimeout(30_000, () => {
      tally.noAnswer.push(describe(h));
      req.destroy();
    });
    // The server may refuse a body before it is all sent (413) and hang up: that is an answer,
    // not a failure, and the rest of the body has nowhere to go.
    req.on('error', () => resolve());
    req.on('socket', (socket) => socket.on('error', () => undefined));
    req.end(h.body);
  });
}

function sendRaw(h: Extract<Hostile, { kind: 'raw' }>): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(baseOf(h));
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(h.data);
      socket.end();
    });
    socket.on('data', () => undefined);
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(30_000, () => socket.destroy());
  });
}

function sendWs(h: Extract<Hostile, { kind: 'ws' }>, key: string): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${baseOf(h).replace(/^http/, 'ws')}${h.path}&token=${key}`, { maxPayload: 1 << 20 });
    const done = () => {
      ws.terminate();
      resolve();
    };
    ws.on('error', done);
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      done();
    });
    ws.on('close', done);
    ws.on('open', () => {
      // The server may hang up on a frame it refuses; what is still being written then fails.
      let left = h.frames.length;
      if (left === 0) return done();
      // A hostile client drops the connection once it has said its piece.
      for (const f of h.frames) ws.send(f, () => --left === 0 && done());
    });
    setTimeout(done, 30_000).unref();
  });
}

/** A client that trickles its request and never finishes it: the server must hang up. */
function slowClient(base: string, pathname: string, headersOnly: boolean): Promise<number> {
  return new Promise((resolve) => {
    const url = new URL(base);
    const started = Date.now();
    const socket = net.connect(Number(url.port), url.hostname);
    const text = headersOnly
      ? `POST ${pathname} HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(200)}`
      : `POST ${pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"a":"${'s'.repeat(200)}`;
    let i = 0;
    const timer = setInterval(() => {
      if (i < text.length && !socket.destroyed) socket.write(text[i++]);
    }, 100);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    });
  });
}

/** Well-behaved work on both doors; resolves with a line per job that did not end with its image. */
async function wellBehaved(): Promise<string[]> {
  const problems: string[] = [];
  const auth = { authorization: `Bearer ${GOOD}` };
  const curated = Array.from({ length: 5 }, async (_, i) => {
    const clientId = `good-curated-${i}-${randomUUID()}`;
    // Both jobs first: "closed" means all of a client's work is done, so it must all be in.
    for (let j = 0; j < 2; j++) {
      const res = await fetch(`${bridge.curated}/generate-based-workflow?clientId=${clientId}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ workflow: 'invert', '1/color': 1000 * i + j }),
      });
      if (res.status !== 200) problems.push(`curated ${clientId} submit ${res.status}: ${await res.text()}`);
    }
    const ws = new WebSocket(`${bridge.curated.replace(/^http/, 'ws')}/ws?clientId=${clientId}&token=${GOOD}`);
    ws.on('error', (err) => problems.push(`curated ${clientId} socket: ${err.message}`));
    const closed = new Promise<string[]>((resolve) => {
      const statuses: string[] = [];
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString());
        statuses.push(m.status);
        if (m.status === 'closed') resolve(statuses);
      });
      ws.on('close', () => resolve(statuses));
    });
    await once(ws, 'open');
    const statuses = await closed;
    if (statuses.includes('error')) problems.push(`curated ${clientId}: ${statuses.join(',')}`);
    const results = await fetch(`${bridge.curated}/history?clientId=${clientId}`, { headers: auth });
    const form = results.status === 200 ? await results.formData() : undefined;
    const images = form ? [...form.values()].filter((v) => typeof v !== 'string').length : 0;
    if (images !== 2) problems.push(`curated ${clientId}: ${images} images (status ${results.status})`);
  });
  const comfy = Array.from({ length: 5 }, async (_, i) => {
    const clientId = `good-comfy-${i}`;
    const ws = new WebSocket(`${bridge.comfy.replace(/^http/, 'ws')}/ws?clientId=${clientId}&token=${GOOD}`);
    ws.on('error', (err) => problems.push(`comfy ${clientId} socket: ${err.message}`));
    const ended = new Map<string, (type: string) => void>();
    ws.on('message', (raw, binary) => {
      if (binary) return;
      const m = JSON.parse(raw.toString());
      if (['execution_success', 'execution_error', 'execution_interrupted'].includes(m.type)) ended.get(m.data.prompt_id)?.(m.type);
    });
    await once(ws, 'open');
    for (let j = 0; j < 2; j++) {
      const promptId = randomUUID();
      const end = new Promise<string>((resolve) => ended.set(promptId, resolve));
      const res = await fetch(`${bridge.comfy}/prompt`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: imageGraph(5000 + 10 * i + j, `good/${i}`), client_id: clientId, prompt_id: promptId }),
      });
      if (res.status !== 200) {
        problems.push(`comfy ${clientId} submit ${res.status}: ${await res.text()}`);
        continue;
      }
      const type = await end;
      if (type !== 'execution_success') problems.push(`comfy ${promptId}: ${type}`);
      const entry = ((await (await fetch(`${bridge.comfy}/history/${promptId}`, { headers: auth })).json()) as any)[promptId];
      const ref = entry?.outputs?.['3']?.images?.[0];
      const view = ref ? await fetch(`${bridge.comfy}/view?${new URLSearchParams(ref)}`, { headers: auth }) : undefined;
      if (view?.status !== 200) problems.push(`comfy ${promptId}: /view answered ${view?.status}`);
      else await view.arrayBuffer();
    }
    ws.close();
  });
  await Promise.all([...curated, ...comfy]);
  return problems;
}

async function filesUnder(root: string): Promise<{ file: string; bytes: number }[]> {
  const out: { file: string; bytes: number }[] = [];
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true, recursive: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath ?? (e as any).path, e.name);
    out.push({ file, bytes: (await stat(file)).size });
  }
  return out;
}

test(`${N} hostile requests (seed ${SEED}) leave the bridge answering, bounded and every good job done`, async () => {
  const pid = bridge.child.pid!;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const startRss = await rssMb(pid);
  let peakRss = startRss;
  const sampler = setInterval(() => {
    void rssMb(pid).then((mb) => (peakRss = Math.max(peakRss, mb)), () => undefined);
  }, 50);

  // A cheap GET, timed throughout from a process of its own: the event loop must stay free.
  const prober = spawn(process.execPath, [path.join(ROOT, 'test/fuzz/probe.mjs'), `${bridge.curated}/workflow-list`, GOOD], { stdio: ['pipe', 'pipe', 'inherit'] });
  let probeOut = '';
  prober.stdout!.on('data', (c: Buffer) => (probeOut += c.toString()));
  const probed = once(prober, 'exit');

  const slow = Array.from({ length: SLOW_CLIENTS }, (_, i) =>
    slowClient(i % 2 ? bridge.curated : bridge.comfy, i % 2 ? '/generate-based-workflow?clientId=slow-client-1' : '/prompt', i % 3 === 0),
  );
  const good = wellBehaved();

  const tally: Tally = { byStatus: new Map(), slowest: [], serverErrors: [], noAnswer: [], uploaded: new Set() };
  const rng = new Rng(SEED);
  let next = 0;
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) {
      next++;
      const h = hostile(rng);
      if (h.kind === 'http') await sendHttp(h, tally, HOSTILE);
      else if (h.kind === 'raw') await sendRaw(h);
      else await sendWs(h, HOSTILE);
    }
  });
  await Promise.all(workers);
  const goodProblems = await good;
  const slowMs = await Promise.all(slow);
  prober.stdin!.end();
  await probed;
  clearInterval(sampler);

  const latencies = (JSON.parse(probeOut) as number[]).map((ms) => (ms < 0 ? Number.POSITIVE_INFINITY : ms)).sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
  lag.disable();
  process.stderr.write(`test process event loop: p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms, max ${(lag.max / 1e6).toFixed(0)} ms\n`);
  const statuses = [...tally.byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
  process.stderr.write(
    `fuzz seed ${SEED}, ${N} requests: ${statuses}; rss ${startRss.toFixed(0)} → peak ${peakRss.toFixed(0)} MB; ` +
      `p99 GET ${p99.toFixed(1)} ms over ${latencies.length}; slow clients cut after ${Math.max(...slowMs)} ms\n` +
      `slowest answers:\n${tally.slowest.sort((a, b) => b.ms - a.ms).slice(0, 10).map((s) => `  ${s.ms.toFixed(0)} ms ${s.what}`).join('\n')}\n`,
  );

  expect(bridge.child.exitCode).toBeNull();
  expect(tally.serverErrors.slice(0, 20)).toEqual([]);
  expect(tally.noAnswer.slice(0, 20)).toEqual([]);
  expect(goodProblems).toEqual([]);
  // The bridge keeps answering a cheap GET throughout (every probe got an answer, none hung);
  // how fast is the hostile benchmark's to measure, on a quiet machine.
  expect(latencies.filter((ms) => !Number.isFinite(ms))).toEqual([]);
  expect(latencies.length).toBeGreaterThan(0);
  expect(peakRss - startRss).toBeLessThan(300);
  // Every slow client was cut off by the server's own timeouts, not by the end of the test.
  for (const ms of slowMs) expect(ms).toBeLessThan(REQUEST_TIMEOUT_S * 1000 + 60_000);

  // Nothing left behind but the files an upload answered for, and a store of bounded size.
  const leftovers = (await filesUnder(path.join(dir, 'uploads'))).filter((f) => !tally.uploaded.has(path.basename(f.file)));
  expect(leftovers.map((f) => f.file)).toEqual([]);
  const store = (await filesUnder(path.join(dir, 'data'))).reduce((sum, f) => sum + f.bytes, 0);
  expect(store).toBeLessThan(50 * 1024 * 1024);
}, TIMEOUT_MS);
