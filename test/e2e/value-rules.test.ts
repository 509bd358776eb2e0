// A curated workflow's exposed inputs keep to the ranges and choices ComfyUI enforces, as the
// backends' /object_info declares them: GET /workflow-info shows them, and a submission that
// breaks them is a 400 listing every problem, before anything is queued.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, getJson, startBridge, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';
import { footprint, send } from './support.js';
import type { Answer } from './support.js';

let sims: ComfySimulator[];
let bridge: TestBridge;

/** A workflow exposing combos, next to the shipped ones. */
const SCALE = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 }, _meta: { title: 'Canvas', apiinput: 'width, height' } },
  '2': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'bilinear', width: 32, height: 32, crop: 'disabled' }, _meta: { title: 'Scale', apiinput: 'upscale_method, crop, width' } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'test/scale' }, _meta: { title: 'Save' } },
};

beforeAll(async () => {
  sims = await startSims(2);
  const dir = await mkdtemp(path.join(tmpdir(), 'bridge-test-'));
  await mkdir(path.join(dir, 'workflows'), { recursive: true });
  await writeFile(path.join(dir, 'workflows', 'scale.json'), JSON.stringify(SCALE));
  bridge = await startBridge(
    sims.map((s) => s.url),
    {},
    dir,
  );
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
});

const submit = (clientId: string, body: unknown) =>
  send(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A 400 whose detail says every one of these, and nothing changed anywhere. */
async function refused(request: () => Promise<Answer>, ...says: string[]): Promise<string> {
  const before = await footprint(bridge, sims);
  const res = await request();
  expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: { detail: expect.any(String) } });
  for (const s of says) expect(res.body.detail).toContain(s);
  expect(await footprint(bridge, sims)).toEqual(before);
  return res.body.detail as string;
}

describe("the simulator's /object_info carries ComfyUI's ranges", () => {
  test.each([
    ['KSampler', 'steps', { min: 1, max: 10000 }],
    ['KSampler', 'cfg', { min: 0, max: 100 }],
    ['KSampler', 'denoise', { min: 0, max: 1 }],
    ['EmptyLatentImage', 'width', { min: 16, max: 16384 }],
    ['EmptyImage', 'width', { min: 1, max: 16384 }],
    ['EmptyImage', 'color', { min: 0, max: 0xffffff }],
  ])('%s %s', async (classType, input, range) => {
    const res = await getJson(`${sims[0]!.url}/object_info/${classType}`);
    expect(res.status).toBe(200);
    expect(res.body[classType].input.required[input][1]).toMatchObject(range);
  });

  test('and the choices of a combo', async () => {
    const res = await getJson(`${sims[0]!.url}/object_info/ImageScale`);
    expect(res.body.ImageScale.input.required.upscale_method[0]).toEqual(['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']);
  });
});

describe('GET /workflow-info', () => {
  test('shows min and max next to type, title, class and default', async () => {
    const txt2img = (await getJson(`${bridge.url}/workflow-info?workflow=txt2img`)).body;
    expect(txt2img['3/steps']).toEqual({ type: 'int', title: 'Sampler', class: 'KSampler', default: 20, min: 1, max: 10000 });
    expect(txt2img['3/cfg']).toMatchObject({ type: 'float', default: 7, min: 0, max: 100 });
    expect(txt2img['3/cfg']).not.toHaveProperty('step');
    expect(txt2img['6/text']).toEqual({ type: 'str', title: 'Positive prompt', class: 'CLIPTextEncode', default: expect.any(String) });
    const invert = (await getJson(`${bridge.url}/workflow-info?workflow=invert`)).body;
    expect(invert['1/width']).toEqual({ type: 'int', title: 'Blank image', class: 'EmptyImage', default: 512, min: 1, max: 16384 });
  });

  test('shows the choices of a combo', async () => {
    const scale = (await getJson(`${bridge.url}/workflow-info?workflow=scale.json`)).body;
    expect(scale['2/upscale_method']).toEqual({
      type: 'str',
      title: 'Scale',
      class: 'ImageScale',
      default: 'bilinear',
      choices: ['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos'],
    });
    expect(scale['2/crop']).toMatchObject({ choices: ['disabled', 'center'] });
    expect(scale['2/width']).toMatchObject({ min: 0, max: 16384 });
  });

  test("does not offer a file input's built-in name, which a submission may not use", async () => {
    const img2img = (await getJson(`${bridge.url}/workflow-info?workflow=img2img`)).body;
    expect(img2img['1/image']).toEqual({ type: 'str', title: 'Input image', class: 'LoadImage' });
    await refused(() => submit('value-rules-file-1', { workflow: 'img2img', '1/image': 'example.png' }), '"1/image" must be the name POST /upload returned');
  });
});

describe('POST /generate-based-workflow', () => {
  test('values inside the ranges and offered choices are queued', async () => {
    const res = await submit('value-rules-good-1', { workflow: 'scale.json', '1/width': 16384, '1/height': 1, '2/upscale_method': 'lanczos', '2/crop': 'center', '2/width': 0 });
    expect(res.status).toBe(200);
    // Run to its end, so the refusals below can show that they changed nothing.
    await waitFinal(bridge, 'value-rules-good-1');
  });

  test('out-of-range steps → 400 before anything is queued', async () => {
    await refused(() => submit('value-rules-steps-1', { workflow: 'txt2img', '3/steps': 100000000 }), '"3/steps" must be between 1 and 10000, got 100000000');
    await refused(() => submit('value-rules-steps-1', { workflow: 'txt2img', '3/steps': 0 }), '"3/steps" must be between 1 and 10000, got 0');
  });

  test('a negative and a huge width → one 400 naming both', async () => {
    await refused(
      () => submit('value-rules-width-1', { workflow: 'invert', '1/width': -1, '1/height': 1e8 }),
      '"1/width" must be between 1 and 16384, got -1',
      '"1/height" must be between 1 and 16384, got 100000000',
    );
    await refused(() => submit('value-rules-width-1', { workflow: 'invert', '1/width': 1e8 }), '"1/width" must be between 1 and 16384, got 100000000');
  });

  test('a choice the combo does not offer → 400 listing the choices', async () => {
    await refused(
      () => submit('value-rules-enum-1', { workflow: 'scale.json', '2/upscale_method': 'cubic' }),
      '"2/upscale_method" must be one of "nearest-exact", "bilinear", "area", "bicubic", "lanczos", got string "cubic"',
    );
  });

  test('every kind of problem at once → one 400 listing them all', async () => {
    const detail = await refused(
      () => submit('value-rules-all-1', { workflow: 'scale.json', '1/width': 0, '1/height': 20000, '2/upscale_method': 'cubic', '2/crop': true, bogus: 1 }),
      '"1/width" must be between 1 and 16384, got 0',
      '"1/height" must be between 1 and 16384, got 20000',
      '"2/upscale_method" must be one of',
      '"2/crop" must be a string, got boolean true',
      'unknown input "bogus"',
    );
    expect(detail.split('; ')).toHaveLength(5);
  });
});
