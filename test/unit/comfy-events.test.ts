// ComfyUI messages and frames read as engine events: the one translation every door relies on.
import { eventOfFrame, eventsOfMessage, failureDetails, isClosingMessage, recordOf } from '../../src/engine/comfy-events.js';
import { BinaryEvent } from '../../src/comfy/protocol.js';

const P = 'af1b6e8f-7473-4737-a2c9-2a933b5c2527';

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

test('a node starting is progress at that node; the running node said again, or the end, is nothing', () => {
  expect(eventsOfMessage({ type: 'executing', data: { node: '3', display_node: '3', prompt_id: P } }, undefined, 0.2)).toEqual([{ kind: 'progress', progress: { value: 0.2, node: '3' } }]);
  expect(eventsOfMessage({ type: 'executing', data: { node: '3' } }, { value: 0.2, node: '3' }, 0.2)).toEqual([]);
  expect(eventsOfMessage({ type: 'executing', data: { node: null, prompt_id: P } }, { value: 0.5, node: '3' }, 0.5)).toEqual([]);
  expect(eventsOfMessage({ type: 'executing', data: { node: '5', display_node: '4', prompt_id: P } }, undefined, 0)).toEqual([{ kind: 'progress', progress: { value: 0, node: '5' }, displayNode: '4' }]);
});

test('a sampler step is progress with step and steps, at the running node when the message does not say', () => {
  expect(eventsOfMessage({ type: 'progress', data: { value: 2, max: 10, prompt_id: P, node: '3' } }, { value: 0.1, node: '3' }, 0.3)).toEqual([
    { kind: 'progress', progress: { value: 0.3, node: '3', step: 2, steps: 10 } },
  ]);
  expect(eventsOfMessage({ type: 'progress', data: { value: 1, max: 4 } }, { value: 0, node: '7' }, 0.1)).toEqual([{ kind: 'progress', progress: { value: 0.1, node: '7', step: 1, steps: 4 } }]);
});

test('cached nodes, outputs and messages the engine gives no meaning', () => {
  expect(eventsOfMessage({ type: 'execution_cached', data: { nodes: ['1', 2], prompt_id: P } }, undefined, 0)).toEqual([{ kind: 'cached', nodes: ['1', '2'] }]);
  const output = { images: [{ filename: 'a.png', subfolder: '', type: 'output' }] };
  expect(eventsOfMessage({ type: 'executed', data: { node: '9', display_node: '9', output, prompt_id: P } }, undefined, 0.9)).toEqual([{ kind: 'output', node: '9', output }]);
  expect(eventsOfMessage({ type: 'progress_state', data: { prompt_id: P, nodes: {} } }, undefined, 0)).toEqual([{ kind: 'notice', type: 'progress_state', data: { prompt_id: P, nodes: {} } }]);
  const blocked = { prompt_id: P, exception_type: 'ExecutionBlocked' };
  expect(eventsOfMessage({ type: 'execution_error', data: blocked }, undefined, 0)).toEqual([{ kind: 'notice', type: 'execution_error', data: blocked }]);
});

test('the start and the closing messages become events through the job, not here', () => {
  for (const type of ['execution_start', 'execution_success', 'execution_interrupted', 'execution_error', 'status']) {
    expect(eventsOfMessage({ type, data: { prompt_id: P } }, undefined, 0)).toEqual([]);
  }
  expect(isClosingMessage('execution_success', {})).toBe(true);
  expect(isClosingMessage('execution_error', { exception_type: 'RuntimeError' })).toBe(true);
  expect(isClosingMessage('execution_error', { exception_type: 'ExecutionBlocked' })).toBe(false);
  expect(isClosingMessage('executing', {})).toBe(false);
});

test('preview frames become JSON-safe previews that keep what a door needs to rebuild them', () => {
  const image = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
  const legacy = eventOfFrame({ type: BinaryEvent.PREVIEW_IMAGE, data: Buffer.concat([u32(1), u32(2), image]) }, '3');
  expect(legacy).toEqual({ kind: 'preview', node: '3', mime: 'image/png', data: image.toString('base64'), frameType: 1 });
  const metadata = { node_id: '7', prompt_id: P, display_node_id: '7', parent_node_id: null, real_node_id: '7', image_type: 'image/jpeg' };
  const json = Buffer.from(JSON.stringify(metadata));
  const modern = eventOfFrame({ type: 4, promptId: P, data: Buffer.concat([u32(4), u32(json.length), json, image]) }, '3');
  expect(modern).toEqual({ kind: 'preview', node: '7', mime: 'image/jpeg', data: image.toString('base64'), frameType: 4, metadata });
  expect(JSON.parse(JSON.stringify(modern))).toEqual(modern);
  expect(eventOfFrame({ type: 4, data: Buffer.concat([u32(4), u32(50), json]) }, '3')).toBeUndefined();
  const text = eventOfFrame({ type: BinaryEvent.TEXT, data: Buffer.concat([u32(3), Buffer.from('hi')]) }, undefined);
  expect(text).toEqual({ kind: 'frame', frameType: 3, data: Buffer.from('hi').toString('base64') });
});

test('failure details come from the backend record, else from the error seen live', () => {
  const error = { prompt_id: P, node_id: '1', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'boom', traceback: ['a'], executed: [], timestamp: 4 };
  const record = recordOf({ outputs: {}, status: { status_str: 'error', completed: false, messages: [['execution_error', error]] }, prompt: [0, P, {}, {}, ['9']] });
  expect(record).toEqual({ outputs: {}, status: { status_str: 'error', completed: false, messages: [['execution_error', error]] }, outputsToExecute: ['9'] });
  const details = { node_id: '1', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'boom', traceback: ['a'], extra: { executed: [] } };
  expect(failureDetails(record, undefined)).toEqual(details);
  expect(failureDetails(undefined, { type: 'execution_error', data: error })).toEqual(details);
  expect(failureDetails(undefined, undefined)).toEqual({});
  expect(recordOf(undefined)).toBeUndefined();
});
