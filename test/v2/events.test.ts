// A job's event stream (SSE) end to end, read with a real streaming client: the snapshot on
// connect, status changes (queue_position too), throttled progress and previews, outputs, the end;
// heartbeats; resuming with Last-Event-ID, also across a bridge restart; the streams a job may
// have, and a client that goes away.
import type { ComfySimulator } from '../../src/sim/index.js';
import { PROGRESS_INTERVAL_MS } from '../../src/v2/job-feed.js';
import { SseReader, backendsUp, call, engineEvent, engineUntil, jobWhen, samplerGraph, sleepGraph, startBridge, startSims, submit, twoOutputGraph } from './harness.js';
import type { SseFrame, TestBridge } from './harness.js';

let sim: ComfySimulator;
let bridge: TestBridge;

beforeAll(async () => {
  [sim] = await startSims(1, { stepMs: 20 });
  bridge = await startBridge([sim.url], { BACKEND_PREFETCH: '0', HEARTBEAT_INTERVAL: '0.2', MAX_SOCKETS_PER_CLIENT: '3' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

const ids = (frames: SseFrame[]) => frames.map((f) => Number(f.id));
const isFinal = (id: string) => ['completed', 'failed', 'cancelled'].includes(bridge.engine.get(id)?.state ?? '');

test('a running job: status, complete progress snapshots (throttled), previews, the output, the terminal status, then the end', async () => {
  const job = (await submit(bridge, samplerGraph(40))).body;
  let progressEvents = 0;
  const stop = bridge.engine.events.subscribe((e) => {
    if ('jobId' in e && e.jobId === job.id && e.kind === 'progress') progressEvents++;
  });
  const opened = Date.now();
  const stream = await SseReader.open(job.urls.events);
  expect(stream.status).toBe(200);
  expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  expect(await stream.ended).toBe(true);
  const elapsed = Date.now() - opened;
  stop();

  const events = stream.events();
  expect(events[0]).toBe('status');
  expect(['queued', 'running']).toContain(stream.frames[0].data.status);
  expect(events.at(-1)).toBe('status');
  expect(stream.frames.at(-1)!.data).toEqual({ status: 'succeeded', queue_position: null });
  // Ids are the engine's event numbers, never going down.
  const numbers = ids(stream.frames);
  expect(numbers.every((n, i) => Number.isInteger(n) && n > 0 && (i === 0 || n >= numbers[i - 1]))).toBe(true);

  const progress = stream.of('progress').map((f) => f.data);
  expect(progress.length).toBeGreaterThan(1);
  for (const p of progress) {
    expect(Object.keys(p).sort()).toEqual(['current_node', 'current_node_class', 'message', 'nodes_done', 'nodes_total', 'step', 'steps', 'value']);
    expect(p.nodes_total).toBe(7);
  }
  expect(progress.at(-1)).toMatchObject({ value: 1, nodes_done: 7 });
  expect(progress).toContainEqual(expect.objectContaining({ current_node: '3', current_node_class: 'KSampler', steps: 40, message: expect.stringMatching(/^KSampler \d+\/40$/) }));
  // Throttled: at most one a half second (and the last one), far fewer than the engine's.
  expect(progress.length).toBeLessThanOrEqual(Math.ceil(elapsed / PROGRESS_INTERVAL_MS) + 2);
  expect(progress.length).toBeLessThan(progressEvents / 2);

  const previews = stream.of('preview').map((f) => f.data);
  expect(previews.length).toBeGreaterThan(0);
  for (const p of previews) {
    expect(p.node_id).toBe('3');
    expect(['image/jpeg', 'image/png']).toContain(p.content_type);
    expect(Buffer.from(p.data_base64, 'base64').length).toBeGreaterThan(0);
  }

  const outputs = stream.of('output').map((f) => f.data);
  const polled = (await call(bridge, 'GET', job.urls.self)).body;
  expect(outputs).toEqual(polled.outputs);
  expect(outputs).toHaveLength(1);
  expect(outputs[0]).toMatchObject({ node_id: '9', type: 'image', content_type: 'image/png', size_bytes: expect.any(Number) });
  // The output came before the end.
  expect(events.indexOf('output')).toBeLessThan(events.length - 1);
}, 60_000);

test('a queued job: its place as it moves, heartbeats, canceling and the end when canceled', async () => {
  const first = (await submit(bridge, sleepGraph(30))).body;
  await jobWhen(bridge, first.id, ['running']);
  const second = (await submit(bridge, sleepGraph(30))).body;
  const third = (await submit(bridge, sleepGraph(30))).body;
  const stream = await SseReader.open(third.urls.events);
  expect((await stream.next((f) => f.event === 'status')).data).toEqual({ status: 'queued', queue_position: 2 });
  expect(await stream.comment()).toBe('keep-alive');

  await call(bridge, 'POST', second.urls.cancel);
  await stream.next((f) => f.event === 'status' && f.data.queue_position === 1);
  await call(bridge, 'POST', first.urls.cancel);
  await stream.next((f) => f.event === 'status' && f.data.status === 'running');
  const canceling = await call(bridge, 'POST', third.urls.cancel);
  expect(canceling.body.status).toBe('canceling');
  expect(await stream.ended).toBe(true);
  // Handed to the backend (queue_position 0) may show between waiting and running.
  const statuses = stream.of('status').map((f) => `${f.data.status}/${f.data.queue_position}`);
  expect(statuses.filter((s) => s !== 'queued/0')).toEqual(['queued/2', 'queued/1', 'running/null', 'canceling/null', 'canceled/null']);
  expect(stream.of('log').map((f) => f.data)).toContainEqual({ level: 'info', message: 'cancelled through the API' });
}, 60_000);

test('Last-Event-ID: a client that comes back gets the outputs it missed and the current state; without it, no old outputs', async () => {
  const job = (await submit(bridge, twoOutputGraph(0.5))).body;
  const stream = await SseReader.open(job.urls.events);
  const first = await stream.next((f) => f.event === 'output');
  stream.close();
  await engineUntil(bridge.engine, () => isFinal(job.id));

  const resumed = await SseReader.open(job.urls.events, { lastEventId: first.id });
  expect(await resumed.ended).toBe(true);
  expect(resumed.events()).toEqual(['progress', 'output', 'status']);
  // The snapshot before the missed output claims no more than the client had: cut off there, it would get it again.
  expect(Number(resumed.frames[0].id)).toBeLessThan(Number(resumed.frames[1].id));
  const missed = resumed.of('output')[0].data;
  expect(missed.id).not.toBe(first.data.id);
  const all = (await call(bridge, 'GET', job.urls.self)).body.outputs;
  expect(all.map((o: any) => o.id).sort()).toEqual([first.data.id, missed.id].sort());
  expect(resumed.frames.at(-1)!.data.status).toBe('succeeded');

  const fresh = await SseReader.open(job.urls.events);
  expect(await fresh.ended).toBe(true);
  expect(fresh.events()).toEqual(['progress', 'status']);
}, 60_000);

test('at most MAX_SOCKETS_PER_CLIENT streams per job (429 too_many_streams); a client that goes away gives its place back', async () => {
  const job = (await submit(bridge, sleepGraph(30))).body;
  const streams = await Promise.all([0, 1, 2].map(() => SseReader.open(job.urls.events)));
  for (const s of streams) await s.next((f) => f.event === 'status');
  const refused = await SseReader.open(job.urls.events);
  expect(refused.status).toBe(429);
  expect(refused.frames[0].data.error.code).toBe('too_many_streams');
  // One client leaves without a word: its place is free again.
  streams[0].close();
  let again: SseReader;
  for (;;) {
    again = await SseReader.open(job.urls.events);
    if (again.status === 200) break;
    await engineEvent(bridge.engine, () => true);
  }
  await again.next((f) => f.event === 'status');
  await call(bridge, 'POST', job.urls.cancel);
  for (const s of [...streams.slice(1), again]) expect(await s.ended).toBe(true);
}, 60_000);

describe('across a bridge restart', () => {
  let restartSim: ComfySimulator;
  let current: TestBridge;
  let dir: string;

  beforeAll(async () => {
    [restartSim] = await startSims(1);
    current = await startBridge([restartSim.url]);
    dir = current.dir;
    await backendsUp(current);
  });

  afterAll(async () => {
    await current?.dispose();
    await restartSim?.close();
  });

  async function restart(): Promise<void> {
    await current.stop();
    current = await startBridge([restartSim.url], {}, dir);
    await backendsUp(current);
  }

  test('outputs made while the client was away and the bridge restarted come with Last-Event-ID', async () => {
    const job = (await submit(current, twoOutputGraph(0.3))).body;
    const stream = await SseReader.open(job.urls.events);
    const first = await stream.next((f) => f.event === 'output');
    stream.close();
    await engineUntil(current.engine, () => ['completed', 'failed'].includes(current.engine.get(job.id)?.state ?? ''));
    await restart();

    const resumed = await SseReader.open(`${current.url}/api/v2/jobs/${job.id}/events`, { lastEventId: first.id });
    expect(await resumed.ended).toBe(true);
    expect(resumed.events()).toEqual(['progress', 'output', 'status']);
    expect(resumed.of('output')[0].data.id).not.toBe(first.data.id);
    expect(resumed.of('output')[0].data.url.startsWith(current.url)).toBe(true);
    expect(Number(resumed.frames[1].id)).toBeGreaterThan(Number(first.id));
    expect(resumed.frames.at(-1)!.data).toEqual({ status: 'succeeded', queue_position: null });
  }, 60_000);

  test('a job still running through the restart: the stream picks up where the client left it', async () => {
    const job = (await submit(current, twoOutputGraph(2))).body;
    const stream = await SseReader.open(job.urls.events);
    const first = await stream.next((f) => f.event === 'output');
    stream.close();
    await restart();
    expect(['dispatching', 'submitted', 'running']).toContain(current.engine.get(job.id)?.state);

    const resumed = await SseReader.open(`${current.url}/api/v2/jobs/${job.id}/events`, { lastEventId: first.id });
    expect(await resumed.ended).toBe(true);
    const events = resumed.events();
    expect(['queued', 'running']).toContain(resumed.frames[0].data.status);
    expect(resumed.of('output')).toHaveLength(1);
    expect(resumed.of('output')[0].data.id).not.toBe(first.data.id);
    expect(events.at(-1)).toBe('status');
    expect(resumed.frames.at(-1)!.data.status).toBe('succeeded');
    const numbers = ids(resumed.frames);
    expect(numbers[0]).toBeGreaterThanOrEqual(Number(first.id));
  }, 60_000);
});
