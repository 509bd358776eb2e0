// Capabilities end to end: simulators with different node sets and model lists. Jobs reach only
// backends that have what they need; a job no backend can run is refused on every door, naming
// what is missing; a backend that gains a node (restart) or a model file (refresh) gets work;
// the plan route shows which backends could run a job.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ComfySimulator } from '../../src/sim/index.js';
import { ComfySimulator as Sim } from '../../src/sim/index.js';
import type { Backend } from '../../src/scheduler/backend.js';
import { backendsUp, engineUntil, getJson, postJson, startBridge, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';
import { samplerGraph, sleepGraph, startDoor } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';

/** KSampler (only on `full`) loading a checkpoint only `lean` has: valid on the pool, runnable nowhere. */
function splitGraph(): Record<string, any> {
  const g = samplerGraph(2, 7);
  g['4'].inputs.ckpt_name = 'lean-only.safetensors';
  return g;
}

/** A curated workflow that loads a checkpoint no backend has. */
const FLUX_WORKFLOW = {
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'flux.safetensors' }, _meta: { title: 'Load' } },
  '2': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 }, _meta: { title: 'Canvas', apiinput: 'color' } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'flux' }, _meta: { title: 'Save' } },
};

function capabilitiesChanged(backend: Backend): Promise<void> {
  return new Promise((resolve) => backend.once('capabilities', () => resolve()));
}

describe('a pool where half the backends lack KSampler', () => {
  let full: ComfySimulator;
  let lean: ComfySimulator;
  let bridge: CompatBridge;
  let dir: string;

  beforeAll(async () => {
    full = await Sim.start({ name: 'full', stepMs: 1, nodeMs: 0 });
    lean = await Sim.start({ name: 'lean', stepMs: 1, nodeMs: 0, missingNodes: ['KSampler'], checkpoints: ['sd15.safetensors', 'lean-only.safetensors'] });
    dir = await mkdtemp(path.join(tmpdir(), 'bridge-caps-'));
    await mkdir(path.join(dir, 'workflows'), { recursive: true });
    await writeFile(path.join(dir, 'workflows', 'flux.json'), JSON.stringify(FLUX_WORKFLOW));
    bridge = (await startDoorIn(dir, [full.url, lean.url])) as CompatBridge;
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await Promise.all([full, lean].map((s) => s?.close()));
    await rm(dir, { recursive: true, force: true });
  });

  test('sampler jobs reach only the backend with KSampler; the others spread over both', async () => {
    for (let i = 0; i < 6; i++) {
      expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=caps-mixed`, { workflow: 'txt2img', '3/seed': i })).status).toBe(200);
      expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=caps-mixed`, { workflow: 'invert', '1/color': i })).status).toBe(200);
    }
    await waitFinal(bridge, 'caps-mixed');
    const jobs = bridge.engine.jobsOf('caps-mixed');
    expect(jobs.map((j) => j.state)).toEqual(Array(12).fill('completed'));
    expect(jobs.filter((j) => j.workflow === 'txt2img').every((j) => j.backend === full.url)).toBe(true);
    expect(lean.receivedPrompts().some((p) => Object.values(p.prompt).some((n: any) => n.class_type === 'KSampler'))).toBe(false);
    expect(lean.stats.rejected).toBe(0);
    expect(full.stats.rejected).toBe(0);
  });

  test('the pool\'s /object_info is the union: both checkpoints lists, and the class only one has', async () => {
    const info = await getJson(`${bridge.door}/object_info`);
    expect(info.body.KSampler).toBeDefined();
    expect(info.body.CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual(expect.arrayContaining(['sdxl.safetensors', 'lean-only.safetensors']));
    expect((await getJson(`${bridge.door}/models/checkpoints`)).body).toEqual(expect.arrayContaining(['sdxl.safetensors', 'lean-only.safetensors']));
  });

  test('ComfyUI door: a prompt no single backend can run is a 400 in ComfyUI\'s shape naming what each lacks', async () => {
    const answer = await postJson(`${bridge.door}/prompt`, { prompt: splitGraph() });
    expect(answer.status).toBe(400);
    expect(answer.body.error.type).toBe('prompt_unrunnable');
    expect(answer.body.error.details).toContain(`${lean.url} lacks node class KSampler`);
    expect(answer.body.error.details).toContain(`${full.url} lacks model file lean-only.safetensors`);
    expect(Object.keys(answer.body.node_errors).length).toBeGreaterThan(0);
    expect(bridge.engine.jobs('comfy')).toHaveLength(0);
  });

  test('v2: the same graph is a 422 unrunnable with the problems and the nodes', async () => {
    const answer = await postJson(`${bridge.url}/api/v2/jobs`, { workflow: splitGraph() });
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('unrunnable');
    expect(answer.body.error.details.problems).toEqual(expect.arrayContaining([`${lean.url} lacks node class KSampler`]));
    expect(answer.body.error.details.node_errors).toBeDefined();
  });

  test('curated: a workflow loading a model no backend has is a 422 naming it (v2\'s workflow route too); start-up names it', async () => {
    const curated = await postJson(`${bridge.url}/generate-based-workflow?clientId=caps-flux`, { workflow: 'flux.json' });
    expect(curated.status).toBe(422);
    expect(curated.body.detail).toContain('no backend has model file flux.safetensors');
    const v2 = await postJson(`${bridge.url}/api/v2/workflows/flux.json/jobs`, { inputs: {} });
    expect(v2.status).toBe(422);
    expect(v2.body.error.code).toBe('unrunnable');
    expect(v2.body.error.details.missing.models[0]).toMatchObject({ file: 'flux.safetensors', nodes: [{ node: '1', input: 'ckpt_name' }] });
    expect(bridge.engine.checkCatalog().map((w) => w.workflow)).toEqual(['flux.json']);
  });

  test('the plan shows which backends could run a job and what the others lack', async () => {
    expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=caps-plan`, { workflow: 'txt2img' })).status).toBe(200);
    await waitFinal(bridge, 'caps-plan');
    const job = bridge.engine.jobsOf('caps-plan')[0];
    const plan = await getJson(`${bridge.url}/admin/jobs/${job.id}/plan`);
    expect(plan.status).toBe(200);
    const byUrl = Object.fromEntries(plan.body.backends.map((b: any) => [b.backend, b]));
    expect(byUrl[full.url].canRun).toBe(true);
    expect(byUrl[lean.url]).toMatchObject({ canRun: false, lacks: { nodeClasses: ['KSampler'] } });
  });
});

/** startDoor, with the bridge's files (and extra workflows) in `dir`. */
async function startDoorIn(dir: string, servers: string[]): Promise<TestBridge> {
  const { freePort } = await import('../compat/harness.js');
  const port = await freePort();
  const bridge = await startBridge(servers, { COMFY_COMPAT_PORT: String(port) }, dir);
  return Object.assign(bridge, { door: bridge.compat!.url, doorWs: bridge.compat!.url.replace(/^http/, 'ws') });
}

describe('capabilities change', () => {
  let a: ComfySimulator;
  let b: ComfySimulator;
  let bridge: CompatBridge;

  beforeAll(async () => {
    a = await Sim.start({ name: 'a', stepMs: 1, nodeMs: 0 });
    b = await Sim.start({ name: 'b', stepMs: 1, nodeMs: 0, missingNodes: ['TestSleep'] });
    bridge = await startDoor([a.url, b.url], { CAPABILITY_REFRESH: '0.2' });
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await Promise.all([a, b].map((s) => s?.close()));
  });

  test('a job only a down backend can run waits; the other backend restarted with the node takes it', async () => {
    const [backendA, backendB] = bridge.engine.routing.learned();
    expect(backendA.url).toBe(a.url);
    await a.close();
    await engineUntil(bridge.engine, () => bridge.engine.healthyBackends().length === 1);
    const answer = await postJson(`${bridge.door}/prompt`, { prompt: sleepGraph(0.01, 'waits') });
    expect(answer.status).toBe(200);
    const id = answer.body.prompt_id as string;
    expect(bridge.engine.get(id)!.state).toBe('queued');
    const plan = await getJson(`${bridge.url}/admin/jobs/${id}/plan`);
    expect(plan.body.backends.map((x: any) => x.canRun)).toEqual([true, false]);

    const learned = capabilitiesChanged(backendB);
    await b.restart({ missingNodes: [] });
    await learned;
    await engineUntil(bridge.engine, () => bridge.engine.get(id)!.state === 'completed');
    expect(bridge.engine.get(id)!.backend).toBe(b.url);
  });

  test('a model file copied onto a backend is learned at the next refresh; before, a job naming it is refused', async () => {
    const graph = samplerGraph(1, 3);
    graph['4'].inputs.ckpt_name = 'fresh.safetensors';
    const before = await postJson(`${bridge.url}/api/v2/jobs`, { workflow: graph });
    expect(before.status).toBe(422);
    const backendB = bridge.engine.routing.learned().find((x) => x.url === b.url)!;
    const offered = () => (bridge.engine.routing.objectInfo() as any).CheckpointLoaderSimple.input.required.ckpt_name[0].includes('fresh.safetensors');
    b.setModels('checkpoints', ['sd15.safetensors', 'fresh.safetensors']);
    // A refresh under way may have read /object_info before the copy and the folder after it.
    while (!offered()) await capabilitiesChanged(backendB);
    const after = await postJson(`${bridge.url}/api/v2/jobs`, { workflow: graph });
    expect(after.status).toBe(201);
    await engineUntil(bridge.engine, () => bridge.engine.get(after.body.id)?.state === 'completed');
    expect(bridge.engine.get(after.body.id)!.backend).toBe(b.url);
  });
});

describe('pins (ROUTING_FILE, labels in COMFYUI_SERVERS)', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;
  let dir: string;

  beforeAll(async () => {
    sims = await Promise.all([0, 1].map((i) => Sim.start({ name: `pin${i}`, stepMs: 1, nodeMs: 0 })));
    dir = await mkdtemp(path.join(tmpdir(), 'bridge-pins-'));
    const routing = path.join(dir, 'routing.json');
    await writeFile(routing, JSON.stringify({ workflows: { invert: ['sdxl'] }, models: { 'sdxl.safetensors': [sims[1].url], 'sd15.safetensors': ['nowhere'] } }));
    bridge = await startBridge([`${sims[0].url}#sdxl+fast`, sims[1].url], { ROUTING_FILE: routing }, path.join(dir, 'bridge'));
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await Promise.all(sims.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  test('a pinned workflow runs only on the backend with the label; a pinned model only on its URL', async () => {
    for (let i = 0; i < 4; i++) expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=pins-invert`, { workflow: 'invert', '1/color': i })).status).toBe(200);
    const graph = samplerGraph(1, 5);
    graph['4'].inputs.ckpt_name = 'sdxl.safetensors';
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await postJson(`${bridge.url}/api/v2/jobs`, { workflow: { ...graph, '3': { ...graph['3'], inputs: { ...graph['3'].inputs, seed: i } } } });
      expect(answer.status).toBe(201);
      ids.push(answer.body.id);
    }
    await waitFinal(bridge, 'pins-invert');
    await engineUntil(bridge.engine, () => ids.every((id) => bridge.engine.get(id)?.state === 'completed'));
    expect(bridge.engine.jobsOf('pins-invert').map((j) => j.backend)).toEqual(Array(4).fill(sims[0].url));
    expect(ids.map((id) => bridge.engine.get(id)!.backend)).toEqual(Array(3).fill(sims[1].url));
  });

  test('a model pinned to a label no backend has: refused, naming the pin', async () => {
    const answer = await postJson(`${bridge.url}/api/v2/jobs`, { workflow: samplerGraph(1, 9) });
    expect(answer.status).toBe(422);
    expect(answer.body.error.details.problems).toEqual(['model sd15.safetensors is pinned to nowhere']);
  });
});
