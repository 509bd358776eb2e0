// One client's prompts run side by side on two backends, yet its websocket shows them as one
// ComfyUI would: one prompt at a time, in submission order, each prompt's messages together.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { readMetadataPreview } from '../../src/compat/previews.js';
import { ComfyWs, backendsUp, get, imageGraph, jobReaches, post, samplerGraph, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge, Frame } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;

// A bridge of its own per test: backends are chosen by queue length until speeds are learned,
// which is what places these prompts.
beforeEach(async () => {
  sims = await startSims(2);
  bridge = await startDoor(sims.map((s) => s.url));
  await backendsUp(bridge);
});

afterEach(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

async function queue(client: string, prompt: Record<string, unknown>): Promise<string> {
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt, client_id: client, prompt_id: promptId });
  expect(res.status).toBe(200);
  return promptId;
}

function simOf(promptId: string): ComfySimulator {
  const backend = bridge.engine.get(promptId)!.backend;
  return sims.find((s) => s.url === backend)!;
}

/** The prompt a frame belongs to; null for status broadcasts and the greeting. */
function promptOf(frame: Frame): string | null {
  if (frame.kind === 'json') return frame.type === 'status' ? null : (frame.data?.prompt_id ?? null);
  const parsed = readMetadataPreview(frame.bytes);
  return parsed ? String(parsed.metadata.prompt_id) : null;
}

/** Each prompt's frames in one block: the prompts in the order their blocks came. */
function blocks(frames: Frame[]): string[] {
  const order: string[] = [];
  for (const id of frames.map(promptOf)) {
    if (id === null || order.at(-1) === id) continue;
    expect(order).not.toContain(id); // a prompt that came back after another's messages
    order.push(id);
  }
  return order;
}

test('a later prompt that finishes first is held until the first has ended; status still arrives live', async () => {
  const client = 'ordered-client';
  const ws = await ComfyWs.connect(bridge, client, { featureFlags: true });
  const first = await queue(client, sleepGraph(60, 'first'));
  await ws.nextJson('execution_start', (d) => d.prompt_id === first);
  // The other backend is free: the second and third run there, and finish, while the first runs on.
  const second = await queue(client, samplerGraph(5, 4242));
  await jobReaches(bridge, second, ['completed']);
  const third = await queue(client, imageGraph(4343, 'door/ordered'));
  await jobReaches(bridge, third, ['completed']);
  expect(simOf(second)).not.toBe(simOf(first));
  expect(simOf(third)).not.toBe(simOf(first));

  await ws.barrier();
  expect(ws.frames.filter((f) => promptOf(f) === second || promptOf(f) === third)).toEqual([]);
  // The queue shrank twice meanwhile, and the socket heard it at once.
  const afterStart = ws.frames.slice(ws.frames.findIndex((f) => f.kind === 'json' && f.type === 'execution_start'));
  expect(afterStart.some((f) => f.kind === 'json' && f.type === 'status' && f.data.status.exec_info.queue_remaining === 1)).toBe(true);
  // Their history is already there: holding is only about what this socket hears.
  expect(Object.keys((await get(`${bridge.door}/history/${third}`)).body)).toEqual([third]);

  simOf(first).setSpeed(1000);
  await ws.done(third);
  await ws.barrier();

  expect(blocks(ws.frames)).toEqual([first, second, third]);
  for (const id of [first, second, third]) {
    const own = ws.messagesOf(id).map((m) => m.type);
    expect(own[0]).toBe('execution_start');
    expect(own.slice(-2)).toEqual(['execution_success', 'executing']);
  }
  const types = ws.frames.map((f) => (f.kind === 'json' ? `${f.type}:${promptOf(f)}` : `binary:${promptOf(f)}`));
  expect(types.indexOf(`execution_success:${first}`)).toBeLessThan(types.findIndex((t) => t.endsWith(`:${second}`)));

  // The held sampler prompt kept one preview and its last progress, not one of each per step.
  const previews = ws.frames.filter((f) => f.kind === 'binary' && promptOf(f) === second);
  expect(previews).toHaveLength(1);
  const progress = ws.messagesOf(second).filter((m) => m.type === 'progress');
  expect(progress.map((m) => m.data.value)).toEqual([5]);
  await ws.close();
});

test('a held prompt is released at once when the prompt ahead of it is deleted before it ran', async () => {
  const client = 'release-client';
  const ws = await ComfyWs.connect(bridge, client);
  // Both backends busy with someone else's work; the client's first prompt waits behind one of them.
  const blockers = [await queue('someone-else', sleepGraph(60, 'x')), await queue('someone-else', sleepGraph(60, 'y'))];
  await Promise.all(blockers.map((id) => jobReaches(bridge, id, ['running'])));
  const first = await queue(client, sleepGraph(60, 'waits'));
  await jobReaches(bridge, first, ['submitted']);
  // Free the other backend: the client's second prompt runs there and finishes.
  const other = blockers.find((id) => simOf(id) !== simOf(first))!;
  await post(`${bridge.door}/interrupt`, { prompt_id: other });
  await jobReaches(bridge, other, ['cancelled']);
  const second = await queue(client, imageGraph(5151, 'door/released'));
  await jobReaches(bridge, second, ['completed']);
  await ws.barrier();
  expect(ws.messagesOf(second)).toEqual([]);

  expect((await post(`${bridge.door}/queue`, { delete: [first] })).status).toBe(200);
  await ws.done(second);
  expect(ws.messagesOf(first)).toEqual([]);
  expect(ws.messagesOf(second).map((m) => m.type).slice(-2)).toEqual(['execution_success', 'executing']);

  const rest = blockers.filter((id) => id !== other);
  await post(`${bridge.door}/interrupt`, { prompt_id: rest[0] });
  await jobReaches(bridge, rest[0], ['cancelled']);
  await ws.close();
});

test('a held prompt follows at once when the prompt ahead of it is interrupted', async () => {
  const client = 'interrupted-client';
  const ws = await ComfyWs.connect(bridge, client);
  const first = await queue(client, sleepGraph(60, 'interrupted'));
  await ws.nextJson('execution_start', (d) => d.prompt_id === first);
  const second = await queue(client, imageGraph(6161, 'door/after-interrupt'));
  await jobReaches(bridge, second, ['completed']);
  await ws.barrier();
  expect(ws.messagesOf(second)).toEqual([]);

  await post(`${bridge.door}/interrupt`, { prompt_id: first });
  await ws.done(second);
  expect(blocks(ws.frames)).toEqual([first, second]);
  expect(ws.messagesOf(first).map((m) => m.type).slice(-2)).toEqual(['execution_interrupted', 'executing']);
  await ws.close();
});

test('held messages go to the socket that holds the client_id when they are let out', async () => {
  const client = 'reconnecting-client';
  const before = await ComfyWs.connect(bridge, client);
  const first = await queue(client, sleepGraph(60, 'reconnect'));
  await before.nextJson('execution_start', (d) => d.prompt_id === first);
  const second = await queue(client, imageGraph(7171, 'door/reconnect'));
  await jobReaches(bridge, second, ['completed']);

  // A second socket with the same clientId takes it over (as in ComfyUI); the first hears no more.
  const after = await ComfyWs.connect(bridge, client);
  expect(after.frames.find((f) => f.kind === 'json' && f.type === 'executing')).toMatchObject({ data: { node: '1' } });
  await post(`${bridge.door}/interrupt`, { prompt_id: first });
  await after.done(second);
  expect(blocks(after.frames)).toEqual([first, second]);
  expect(after.messagesOf(second)[0].type).toBe('execution_start');
  await before.barrier();
  expect(before.messagesOf(second)).toEqual([]);
  await Promise.all([before.close(), after.close()]);
});
