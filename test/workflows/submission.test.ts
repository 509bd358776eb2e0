import { checkSubmission, MAX_STRING_LENGTH } from '../../src/workflows/index.js';
import { describeValue } from '../../src/workflows/submission.js';
import { exposedInputs } from '../../src/workflows/inputs.js';
import type { ExposedInput } from '../../src/workflows/index.js';
import { sampleGraph } from './sample-graph.js';

function sampleInputs(): ExposedInput[] {
  const reading = exposedInputs(sampleGraph());
  if (!reading.ok) throw new Error(reading.problems.join('\n'));
  return reading.inputs;
}

const workflow = { inputs: sampleInputs() };
const noUploads = () => false;

function problemsOf(body: unknown): string[] {
  const check = checkSubmission(workflow, body, noUploads);
  if (check.ok) throw new Error('expected the submission to be refused');
  return check.problems;
}

test('accepts good values and ignores the workflow field', () => {
  const check = checkSubmission(
    workflow,
    { workflow: 'txt2img', '6/text': 'a dog', '3/seed': 7, '3/cfg': 6.5, '3/denoise': 1, '9/enabled': false },
    noUploads,
  );
  expect(check).toEqual({
    ok: true,
    values: { '6/text': 'a dog', '3/seed': 7, '3/cfg': 6.5, '3/denoise': 1, '9/enabled': false },
    uploads: [],
  });
});

test('missing inputs keep their defaults and are not values', () => {
  expect(checkSubmission(workflow, { workflow: 'txt2img' }, noUploads)).toEqual({ ok: true, values: {}, uploads: [] });
});

test('refuses a body that is not an object', () => {
  for (const body of [null, [], 'text', 3]) {
    expect(problemsOf(body)).toEqual(['the request body must be a JSON object']);
  }
});

test('an unknown key names the inputs the workflow accepts', () => {
  expect(problemsOf({ workflow: 'txt2img', '6/txt': 'a dog' })).toEqual([
    'unknown input "6/txt": this workflow accepts 3/seed, 3/steps, 3/cfg, 3/denoise, 6/text, 9/enabled, 10/filename_prefix',
  ]);
  expect(checkSubmission({ inputs: [] }, { prompt: 'x' }, noUploads)).toEqual({
    ok: false,
    problems: ['unknown input "prompt": this workflow accepts no inputs'],
  });
});

test('an inherited property name is an unknown key, not an input', () => {
  expect(problemsOf(JSON.parse('{"__proto__": 1, "constructor": 2}'))).toHaveLength(2);
});

describe('int', () => {
  test('accepts integral numbers in the safe range', () => {
    for (const seed of [0, -5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 3.0]) {
      expect(checkSubmission(workflow, { '3/seed': seed }, noUploads).ok).toBe(true);
    }
  });

  test.each([
    ['string "12"', '12'],
    ['number 1.5', 1.5],
    ['boolean true', true],
    ['null', null],
    ['an array', [1]],
    ['an object', { value: 1 }],
  ])('refuses %s', (shown, value) => {
    expect(problemsOf({ '3/seed': value })).toEqual([`"3/seed" must be an int, got ${shown}`]);
  });

  test('refuses integers beyond the safe range', () => {
    expect(problemsOf({ '3/seed': 2 ** 64 })).toEqual([
      '"3/seed" must be an int between -9007199254740991 and 9007199254740991, got number 18446744073709552000',
    ]);
  });
});

describe('float', () => {
  test('accepts integers and fractions', () => {
    for (const cfg of [7, 7.5, -0.25, 0]) expect(checkSubmission(workflow, { '3/cfg': cfg }, noUploads).ok).toBe(true);
  });

  test.each([
    ['string "7.5"', '7.5'],
    ['number Infinity', Infinity],
    ['number NaN', NaN],
    ['boolean false', false],
    ['null', null],
    ['an array', []],
    ['an object', {}],
  ])('refuses %s', (shown, value) => {
    expect(problemsOf({ '3/cfg': value })).toEqual([`"3/cfg" must be a float, got ${shown}`]);
  });
});

describe('str', () => {
  test('accepts strings up to the limit', () => {
    for (const text of ['', 'a dog', 'x'.repeat(MAX_STRING_LENGTH)]) {
      expect(checkSubmission(workflow, { '6/text': text }, noUploads).ok).toBe(true);
    }
  });

  test('refuses longer strings', () => {
    expect(problemsOf({ '6/text': 'x'.repeat(MAX_STRING_LENGTH + 1) })).toEqual([
      `"6/text" must be at most ${MAX_STRING_LENGTH} characters long, got ${MAX_STRING_LENGTH + 1}`,
    ]);
  });

  test.each([
    ['number 5', 5],
    ['boolean true', true],
    ['null', null],
    ['an array', ['a dog']],
    ['an object', { text: 'a dog' }],
  ])('refuses %s', (shown, value) => {
    expect(problemsOf({ '6/text': value })).toEqual([`"6/text" must be a string, got ${shown}`]);
  });
});

describe('bool', () => {
  test('accepts booleans', () => {
    for (const enabled of [true, false]) {
      expect(checkSubmission(workflow, { '9/enabled': enabled }, noUploads).ok).toBe(true);
    }
  });

  test.each([
    ['string "true"', 'true'],
    ['number 1', 1],
    ['null', null],
    ['an array', [true]],
    ['an object', {}],
  ])('refuses %s', (shown, value) => {
    expect(problemsOf({ '9/enabled': value })).toEqual([`"9/enabled" must be a bool (true or false), got ${shown}`]);
  });
});

test('lists every problem at once, in body order', () => {
  expect(
    problemsOf({
      workflow: 'txt2img',
      '3/seed': '12',
      '6/txt': 'a dog',
      '6/text': 'fine',
      '3/cfg': null,
      '9/enabled': 'yes',
    }),
  ).toEqual([
    '"3/seed" must be an int, got string "12"',
    'unknown input "6/txt": this workflow accepts 3/seed, 3/steps, 3/cfg, 3/denoise, 6/text, 9/enabled, 10/filename_prefix',
    '"3/cfg" must be a float, got null',
    '"9/enabled" must be a bool (true or false), got string "yes"',
  ]);
});

describe('uploads', () => {
  const isUploadName = (value: string) => value.startsWith('upload-');

  test('records submitted strings that name uploads, once each', () => {
    const check = checkSubmission(
      workflow,
      { '6/text': 'upload-a.png', '10/filename_prefix': 'upload-a.png', '3/seed': 1 },
      isUploadName,
    );
    expect(check).toEqual({
      ok: true,
      values: { '6/text': 'upload-a.png', '10/filename_prefix': 'upload-a.png', '3/seed': 1 },
      uploads: ['upload-a.png'],
    });
  });

  test('ignores strings that are not uploads, and defaults', () => {
    const check = checkSubmission(workflow, { '6/text': 'a dog' }, isUploadName);
    expect(check).toEqual({ ok: true, values: { '6/text': 'a dog' }, uploads: [] });
  });

  test('does not ask about values of refused inputs', () => {
    const asked: string[] = [];
    checkSubmission(workflow, { '6/txt': 'upload-x', '3/seed': 'upload-y' }, (value) => {
      asked.push(value);
      return true;
    });
    expect(asked).toEqual([]);
  });
});

test('describeValue shortens long strings', () => {
  expect(describeValue('y'.repeat(100))).toBe(`string "${'y'.repeat(40)}…"`);
});
