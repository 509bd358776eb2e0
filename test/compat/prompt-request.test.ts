// Reading POST /prompt bodies: ComfyUI's counter, number and front, client_id, prompt_id.
import { isCanonicalUuid, queuePriority, readPromptRequest } from '../../src/compat/prompt-request.js';
import type { PromptCounter } from '../../src/compat/prompt-request.js';

function counter(start = 0): PromptCounter & { value(): number } {
  let n = start;
  return { peek: () => n, take: () => n++, value: () => n };
}

const prompt = { '1': { class_type: 'X', inputs: {} } };

test('counted, front and explicit numbers, and the priorities that keep their order', () => {
  const c = counter(5);
  const normal = readPromptRequest({ prompt }, c);
  expect(normal.ok && normal.request).toMatchObject({ number: 5, priority: 0 });
  const front = readPromptRequest({ prompt, front: true }, c);
  expect(front.ok && front.request).toMatchObject({ number: -6, priority: -7 });
  const front2 = readPromptRequest({ prompt, front: 1 }, c);
  expect(front2.ok && front2.request.priority).toBe(-8);
  const explicit = readPromptRequest({ prompt, number: '2.5' }, c);
  expect(explicit.ok && explicit.request).toMatchObject({ number: 2.5, priority: 2.5 - 8 });
  expect(c.value()).toBe(8);
  // Newer front prompts go first; all of them before counted ones.
  expect(queuePriority({ kind: 'front', counter: 9 })).toBeLessThan(queuePriority({ kind: 'front', counter: 3 }));
  expect(queuePriority({ kind: 'front', counter: 0 })).toBeLessThan(queuePriority({ kind: 'counted', counter: 0 }));
});

test('the counter advances on every POST without number, also refused ones', () => {
  const c = counter();
  expect(readPromptRequest({ client_id: 'x' }, c).ok).toBe(false);
  expect(readPromptRequest('text', c).ok).toBe(false);
  expect(readPromptRequest({ prompt: 5 }, c).ok).toBe(false);
  expect(c.value()).toBe(3);
  readPromptRequest({ number: 1 }, c);
  expect(c.value()).toBe(3);
});

test('refusals in ComfyUI\'s shape', () => {
  const c = counter();
  const none = readPromptRequest({}, c);
  expect(!none.ok && none.body).toEqual({ error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
  const badNumber = readPromptRequest({ prompt, number: 'soon' }, c);
  expect(!badNumber.ok && badNumber.body.error.type).toBe('invalid_prompt');
  const notObject = readPromptRequest({ prompt: 5 }, c);
  expect(!notObject.ok && notObject.body.error).toMatchObject({ type: 'invalid_prompt', message: 'Invalid prompt' });
  // Every problem of the envelope in the one error's details, the first one naming it.
  const several = readPromptRequest({ number: 'soon' }, c);
  expect(!several.ok && several.body.error).toMatchObject({ type: 'invalid_prompt', message: 'Invalid number', details: '"number" must be a number, got "soon"; No prompt provided' });
  const badExtra = readPromptRequest({ prompt, extra_data: [] }, c);
  expect(!badExtra.ok && badExtra.body.error.type).toBe('invalid_prompt');
  for (const id of ['x', 'AF1B6E8F-7473-4737-A2C9-2A933B5C2527', '{af1b6e8f-7473-4737-a2c9-2a933b5c2527}', 5]) {
    const r = readPromptRequest({ prompt, prompt_id: id }, c);
    expect(!r.ok && r.body.error.type).toBe('invalid_prompt_id');
  }
});

test('client_id goes into extra_data (overwriting), the prompt_id is kept, the prompt is a copy', () => {
  const body = { prompt, client_id: 'me', extra_data: { client_id: 'other', extra_pnginfo: { a: 1 } }, prompt_id: 'af1b6e8f-7473-4737-a2c9-2a933b5c2527', partial_execution_targets: ['1'] };
  const r = readPromptRequest(body, counter());
  expect(r.ok).toBe(true);
  if (!r.ok) return;
  expect(r.request.extraData).toEqual({ client_id: 'me', extra_pnginfo: { a: 1 } });
  expect(r.request.clientId).toBe('me');
  expect(r.request.promptId).toBe(body.prompt_id);
  expect(r.request.targets).toEqual(['1']);
  expect(r.request.prompt).toEqual(prompt);
  expect(r.request.prompt).not.toBe(prompt);
  const anonymous = readPromptRequest({ prompt, prompt_id: null }, counter());
  expect(anonymous.ok && anonymous.request).toMatchObject({ clientId: undefined, promptId: undefined, targets: null });
  expect(isCanonicalUuid('af1b6e8f-7473-4737-a2c9-2a933b5c2527')).toBe(true);
});
