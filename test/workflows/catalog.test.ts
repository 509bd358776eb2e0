import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWorkflow, Catalog, CatalogError, describe as describeWorkflow } from '../../src/workflows/index.js';
import type { PromptGraph, Workflow } from '../../src/workflows/index.js';

const invertGraph: PromptGraph = {
  '1': {
    class_type: 'EmptyImage',
    inputs: { width: 8, height: 8, batch_size: 1, color: 0 },
    _meta: { title: 'Blank', apiinput: 'width,height' },
  },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'test' } },
};

let dir: string;
let aliasFile: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'catalog-'));
  aliasFile = path.join(dir, 'workflow_alias.json');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: unknown): Promise<void> {
  await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
  await writeFile(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
}

async function loadProblems(): Promise<readonly string[]> {
  try {
    await Catalog.load({ dir, aliasFile });
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogError);
    return (error as CatalogError).problems;
  }
  throw new Error('expected the catalog to refuse to load');
}

test('lists aliases in alias-file order, then unaliased files sorted by name', async () => {
  await write('zeta.json', invertGraph);
  await write('alpha.json', invertGraph);
  await write('b-file.json', invertGraph);
  await write('sub/nested.json', invertGraph);
  await write('notes.txt', 'not a workflow');
  await write('.hidden.json', 'not even JSON');
  await write('workflow_alias.json', { second: 'zeta.json', first: 'sub/nested.json', again: './zeta.json' });

  const catalog = await Catalog.load({ dir, aliasFile });
  expect(catalog.list()).toEqual(['second', 'first', 'again', 'alpha.json', 'b-file.json']);
  expect(catalog.get('second')).toMatchObject({ alias: 'second', file: 'zeta.json' });
  expect(catalog.get('first')).toMatchObject({ alias: 'first', file: 'sub/nested.json' });
  expect(catalog.get('alpha.json')).toMatchObject({ alias: 'alpha.json', file: 'alpha.json' });
  expect(catalog.get('zeta.json')).toBeUndefined();
  expect(catalog.get('workflow_alias.json')).toBeUndefined();
  expect(catalog.get('constructor')).toBeUndefined();
});

test('a workflow carries its graph and exposed inputs', async () => {
  await write('invert.json', invertGraph);
  await write('workflow_alias.json', { invert: 'invert.json' });
  const workflow = (await Catalog.load({ dir, aliasFile })).get('invert')!;
  expect(workflow.graph).toEqual(invertGraph);
  expect(describeWorkflow(workflow)).toEqual({
    '1/width': { type: 'int', title: 'Blank', class: 'EmptyImage', default: 8 },
    '1/height': { type: 'int', title: 'Blank', class: 'EmptyImage', default: 8 },
  });
});

test('loaded graphs cannot be changed by accident', async () => {
  await write('invert.json', invertGraph);
  const workflow = (await Catalog.load({ dir, aliasFile })).get('invert.json')!;
  expect(() => {
    workflow.graph['1']!.inputs.width = 16;
  }).toThrow(TypeError);
});

test('an absent alias file means no aliases', async () => {
  await write('only.json', invertGraph);
  const catalog = await Catalog.load({ dir, aliasFile: path.join(dir, 'missing', 'aliases.json') });
  expect(catalog.list()).toEqual(['only.json']);
});

test('an empty folder gives an empty catalog', async () => {
  expect((await Catalog.load({ dir, aliasFile })).list()).toEqual([]);
});

test('one error names every problem: missing file, broken JSON, bad apiinput, escaping path', async () => {
  await write('broken.json', '{"1": {"class_type": ');
  await write('linked.json', {
    ...invertGraph,
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] }, _meta: { apiinput: 'image, strength' } },
  });
  await write('stray.json', '[1, 2]');
  await write('workflow_alias.json', {
    gone: 'gone.json',
    broken: 'broken.json',
    linked: 'linked.json',
    outside: '../elsewhere.json',
  });

  const problems = await loadProblems();
  expect(problems).toEqual([
    `workflow "outside" (file "../elsewhere.json"): the file must be inside the workflow folder ${dir}`,
    `workflow "gone" (file "gone.json"): not found in ${dir}`,
    expect.stringMatching(/^workflow "broken" \(file "broken\.json"\): not valid JSON: /),
    'workflow "linked" (file "linked.json"): node 2 (ImageInvert): apiinput names "image", which is linked to node 1; only inputs with a literal value can be exposed',
    'workflow "linked" (file "linked.json"): node 2 (ImageInvert): apiinput names "strength", which this node does not have (its inputs: image)',
    'workflow file "stray.json": must be a JSON object of nodes in ComfyUI API format (use "Export (API)")',
  ]);
});

test('the error message lists the problems', async () => {
  await write('workflow_alias.json', { a: 'a.json', b: 'b.json' });
  await expect(Catalog.load({ dir, aliasFile })).rejects.toThrow(
    `the workflow catalog cannot be loaded:\n  - workflow "a" (file "a.json"): not found in ${dir}\n  - workflow "b" (file "b.json"): not found in ${dir}`,
  );
});

test('an alias file that is not JSON is an error', async () => {
  await write('workflow_alias.json', '{ invert: "invert.json" }');
  expect(await loadProblems()).toEqual([expect.stringMatching(/^alias file .*workflow_alias\.json is not valid JSON: /)]);
});

test('an alias file that is not an object of strings is an error', async () => {
  await write('workflow_alias.json', { invert: ['invert.json'] });
  expect(await loadProblems()).toEqual([
    `alias file ${aliasFile}: alias "invert" must map to a file name string`,
  ]);
});

test('an unaliased file may not take a name an alias already uses', async () => {
  await write('a.json', invertGraph);
  await write('b.json', invertGraph);
  await write('workflow_alias.json', { 'b.json': 'a.json' });
  expect(await loadProblems()).toEqual([
    'workflow file "b.json" would be listed under its own name, which is already an alias; rename the file or the alias',
  ]);
});

test('a missing folder is one clear error', async () => {
  await expect(Catalog.load({ dir: path.join(dir, 'nope'), aliasFile })).rejects.toThrow(
    /workflow folder .*nope cannot be read/,
  );
});

describe('fromWorkflows', () => {
  function invert(alias: string): Workflow {
    const reading = buildWorkflow(alias, `${alias}.json`, invertGraph);
    if (!reading.ok) throw new Error(reading.problems.join('\n'));
    return reading.workflow;
  }

  test('keeps the given order and does not freeze the caller’s objects', () => {
    const b = invert('b');
    const catalog = Catalog.fromWorkflows([b, invert('a')]);
    expect(catalog.list()).toEqual(['b', 'a']);
    expect(Object.isFrozen(b.graph)).toBe(false);
    expect(Object.isFrozen(catalog.get('b')!.graph)).toBe(true);
  });

  test('refuses an alias used twice', () => {
    expect(() => Catalog.fromWorkflows([invert('a'), invert('a')])).toThrow('alias "a" is used twice');
  });
});

describe('the shipped workflows', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));

  test('load cleanly with the documented inputs', async () => {
    const catalog = await Catalog.load({
      dir: path.join(root, 'workflows'),
      aliasFile: path.join(root, 'workflow_alias.json'),
    });
    expect(catalog.list()).toEqual(['invert', 'txt2img', 'img2img']);
    expect(describeWorkflow(catalog.get('invert')!)).toEqual({
      '1/width': { type: 'int', title: 'Blank image', class: 'EmptyImage', default: 512 },
      '1/height': { type: 'int', title: 'Blank image', class: 'EmptyImage', default: 512 },
      '1/color': { type: 'int', title: 'Blank image', class: 'EmptyImage', default: 0 },
    });
    const txt2img = describeWorkflow(catalog.get('txt2img')!);
    expect(Object.keys(txt2img)).toEqual(['3/seed', '3/steps', '3/cfg', '6/text', '7/text']);
    expect(txt2img['3/cfg']).toEqual({ type: 'float', title: 'Sampler', class: 'KSampler', default: 7 });
    expect(txt2img['7/text']).toMatchObject({ type: 'str', title: 'Negative prompt' });
    expect(catalog.get('txt2img')!.graph['9']!.inputs.filename_prefix).toBe('bridge/txt2img');
    expect(describeWorkflow(catalog.get('img2img')!)).toEqual({
      // A file input's built-in name is not offered: a submission may only name uploads.
      '1/image': { type: 'str', title: 'Input image', class: 'LoadImage' },
      '4/text': expect.objectContaining({ type: 'str', title: 'Positive prompt', class: 'CLIPTextEncode' }),
      '6/seed': { type: 'int', title: 'Sampler', class: 'KSampler', default: 42 },
      '6/denoise': { type: 'float', title: 'Sampler', class: 'KSampler', default: 0.6 },
    });
  });
});
