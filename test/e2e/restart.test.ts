// The bridge as a real process: SIGKILL with jobs waiting, running and finished-but-uncollected,
// then a restart that finishes every one exactly once; SIGTERM that shuts down cleanly.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { readPngText } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { getJson, postJson, readParts, simEvent, startSims } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface BridgeProcess {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

async function spawnBridge(dir: string, servers: string[]): Promise<BridgeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: path.join(dir, 'data'),
      UPLOAD_DIR: path.join(dir, 'uploads'),
      CURRENT_STATE: path.join(dir, 'current_state.json'),
      HOST: '127.0.0.1',
      PORT: '0',
      COMFY_COMPAT_PORT: '0',
      COMFYUI_SERVERS: servers.join(','),
      WORKFLOW_DIR: path.join(dir, 'workflows'),
      WORKFLOW_ALIAS: path.join(ROOT, 'workflow_alias.json'),
      HEALTH_INTERVAL: '0.05',
      BACKEND_PREFETCH: '0',
      DISCONNECT_GRACE: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const m = log.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`bridge exited with ${code}:\n${log}`)));
  });
  return { child, url, exited };
}

/** Resolve with the messages of a client socket once it says closed. */
function untilClosed(url: string, clientId: string): Promise<{ status: string; detail: string }[]> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws?clientId=${clientId}`);
  const messages: { status: string; detail: string }[] = [];
  return new Promise((resolve, reject) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      messages.push(m);
      if (m.status === 'closed') resolve(messages);
    });
    ws.on('error', reject);
  });
}

let sims: ComfySimulator[];
let dir: string;

beforeAll(async () => {
  sims = await startSims(2, { stepMs: 2 });
  dir = await mkdtemp(path.join(tmpdir(), 'bridge-restart-'));
  await cp(path.join(ROOT, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
  await cp(path.join(ROOT, 'test/fixtures/workflows'), path.join(dir, 'workflows'), { recursive: true });
});

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

test('SIGKILL with jobs waiting, running and uncollected: after a restart every job finishes once, with its own result', async () => {
  let bridge = await spawnBridge(dir, sims.map((s) => s.url));
  const submit = (clientId: string, body: Record<string, unknown>) => postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, body);

  // Finished before the crash, not collected.
  const finishedFirst = untilClosed(bridge.url, 'restart-done-0');
  expect((await submit('restart-done-0', { workflow: 'invert', '1/color': 1001 })).status).toBe(200);
  await finishedFirst;

  // Running on both backends at the moment of the crash, and two waiting in the bridge.
  const bothStarted = Promise.all(sims.map((s) => simEvent<string>(s, 'started')));
  for (const [i, id] of ['restart-run-1', 'restart-run-2'].entries()) {
    expect((await submit(id, { workflow: 'sleep.json', '1/color': 2000 + i, '2/seconds': 0.8 })).status).toBe(200);
  }
  for (const [i, id] of ['restart-wait-3', 'restart-wait-4'].entries()) {
    expect((await submit(id, { workflow: 'invert', '1/color': 3000 + i })).status).toBe(200);
  }
  await bothStarted;
  const waiting = await getJson(`${bridge.url}/execution-info?clientId=restart-wait-4`);
  expect(waiting.body.status).toBe('queued');

  bridge.child.kill('SIGKILL');
  await bridge.exited;

  bridge = await spawnBridge(dir, sims.map((s) => s.url));
  try {
    const expected: Record<string, number> = { 'restart-done-0': 1001, 'restart-run-1': 2000, 'restart-run-2': 2001, 'restart-wait-3': 3000, 'restart-wait-4': 3001 };
    await Promise.all(Object.keys(expected).map((id) => untilClosed(bridge.url, id)));
    const promptIds = new Set<string>();
    for (const [id, color] of Object.entries(expected)) {
      const info = await getJson(`${bridge.url}/execution-info?clientId=${id}`);
      expect(info.body).toEqual({ status: 'closed', detail: 'Execution is done' });
      const res = await fetch(`${bridge.url}/history?clientId=${id}`);
      expect(res.status).toBe(200);
      const parts = await readParts(res);
      expect(parts).toHaveLength(1);
      const text = readPngText(parts[0].bytes);
      expect(JSON.parse(text.prompt)['1'].inputs.color).toBe(color);
      promptIds.add(text.prompt_id);
    }
    // Each job reached a backend exactly once: nothing ran twice, nothing was lost.
    const received = sims.flatMap((s) => s.receivedPrompts().map((p) => p.promptId));
    for (const pid of promptIds) expect(received.filter((r) => r === pid)).toHaveLength(1);
    expect(promptIds.size).toBe(5);
    expect((await getJson(`${bridge.url}/generation-count`)).body).toBe(5);
  } finally {
    bridge.child.kill('SIGTERM');
    await bridge.exited;
  }
}, 60_000);

test('SIGTERM: stops accepting, finishes its writes, closes sockets, exits 0', async () => {
  const bridge = await spawnBridge(dir, sims.map((s) => s.url));
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=sigterm-client`, { workflow: 'sleep.json', '2/seconds': 5 });
  expect(res.status).toBe(200);
  const ws = new WebSocket(`${bridge.url.replace(/^http/, 'ws')}/ws?clientId=sigterm-watcher`);
  await once(ws, 'open');
  const wsClosed = once(ws, 'close');
  bridge.child.kill('SIGTERM');
  expect(await bridge.exited).toBe(0);
  await wsClosed;
  // The accepted job is still in the store for the next start.
  const next = await spawnBridge(dir, sims.map((s) => s.url));
  try {
    const info = await getJson(`${next.url}/execution-info?clientId=sigterm-client`);
    expect(info.status).toBe(200);
    expect(['queued', 'progress', 'closed']).toContain(info.body.status);
  } finally {
    next.child.kill('SIGTERM');
    await next.exited;
  }
}, 60_000);
