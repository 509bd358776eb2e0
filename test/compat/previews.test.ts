// Preview frames: type 4 (with metadata) to sockets that negotiated it, type 1 to the others,
// in ComfyUI's order relative to the step's `progress` message, and only to the prompt's client.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { isPng } from '../../src/sim/png.js';
import { readMetadataPreview } from '../../src/compat/previews.js';
import { ComfyWs, backendsUp, jobReaches, post, samplerGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge, Frame } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(2);
  bridge = await startDoor(sims.map((s) => s.url));
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

/** Frames from the prompt's first JSON message on; each binary with the JSON message just before and after it. */
function around(frames: Frame[], promptId: string): { frame: Buffer; before?: Frame; after?: Frame }[] {
  const start = frames.findIndex((f) => f.kind === 'json' && f.data?.prompt_id === promptId);
  const out: { frame: Buffer; before?: Frame; after?: Frame }[] = [];
  for (let i = start; i < frames.length; i++) {
    const f = frames[i];
    if (f.kind !== 'binary') continue;
    const before = frames.slice(start, i).reverse().find((x) => x.kind === 'json');
    const after = frames.slice(i + 1).find((x) => x.kind === 'json');
    out.push({ frame: f.bytes, before, after });
  }
  return out;
}

test('a negotiating client gets type 4 before each progress; a plain one gets type 1 (PNG) after it; others get nothing', async () => {
  const modern = await ComfyWs.connect(bridge, 'preview-modern', { featureFlags: true });
  const legacy = await ComfyWs.connect(bridge, 'preview-legacy');
  const bystander = await ComfyWs.connect(bridge, 'preview-bystander', { featureFlags: true });
  const p1 = randomUUID();
  const p2 = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: samplerGraph(3, 1001), client_id: 'preview-modern', prompt_id: p1 })).status).toBe(200);
  expect((await post(`${bridge.door}/prompt`, { prompt: samplerGraph(3, 1002), client_id: 'preview-legacy', prompt_id: p2 })).status).toBe(200);
  await Promise.all([modern.done(p1), legacy.done(p2)]);
  await bystander.barrier();

  const m = around(modern.frames, p1);
  expect(m).toHaveLength(3);
  for (const { frame, after } of m) {
    expect(frame.readUInt32BE(0)).toBe(4);
    const parsed = readMetadataPreview(frame)!;
    expect(parsed.metadata).toMatchObject({ prompt_id: p1, node_id: '3', image_type: 'image/png' });
    expect(isPng(parsed.image)).toBe(true);
    expect(after).toMatchObject({ type: 'progress', data: { prompt_id: p1 } });
  }

  const l = around(legacy.frames, p2);
  expect(l).toHaveLength(3);
  for (const { frame, before } of l) {
    expect(frame.readUInt32BE(0)).toBe(1);
    expect(frame.readUInt32BE(4)).toBe(2);
    expect(isPng(frame.subarray(8))).toBe(true);
    expect(before).toMatchObject({ type: 'progress', data: { prompt_id: p2 } });
  }

  expect(bystander.binaries()).toHaveLength(0);
  await Promise.all([modern.close(), legacy.close(), bystander.close()]);
});

test('a prompt without client_id broadcasts type 1 previews to every socket', async () => {
  const a = await ComfyWs.connect(bridge, 'broadcast-a', { featureFlags: true });
  const b = await ComfyWs.connect(bridge, 'broadcast-b');
  const promptId = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: samplerGraph(2, 2002), prompt_id: promptId })).status).toBe(200);
  await jobReaches(bridge, promptId, ['completed']);
  await Promise.all([a.barrier(), b.barrier()]);
  for (const ws of [a, b]) {
    const frames = ws.binaries();
    expect(frames).toHaveLength(2);
    for (const f of frames) expect(f.readUInt32BE(0)).toBe(1);
  }
  await Promise.all([a.close(), b.close()]);
});
