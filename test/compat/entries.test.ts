// Queue items and history entries as ComfyUI shows them, built from engine jobs and the door's records.
import { newJob } from '../../src/jobs/job.js';
import type { Job } from '../../src/jobs/job.js';
import { closingMessage, historyEntry, historyWindow, inHistory, isClosing, publicExtraData, queueItem } from '../../src/compat/entries.js';
import type { PromptRecord } from '../../src/compat/entries.js';
import { backendTag } from '../../src/compat/file-names.js';

const BACKEND = 'http://127.0.0.1:9001';

function job(fields: Partial<Job> = {}): Job {
  return {
    ...newJob({
      id: 'af1b6e8f-7473-4737-a2c9-2a933b5c2527',
      clientId: 'c',
      door: 'comfy',
      workflow: '',
      prompt: { '3': { class_type: 'SaveImage', inputs: {} } },
      uploads: [],
    }),
    ...fields,
  };
}

function record(fields: Partial<PromptRecord> = {}): PromptRecord {
  return {
    number: 7,
    clientId: 'c',
    extraData: { client_id: 'c', extra_pnginfo: { workflow: {} }, auth_token_comfy_org: 'secret', api_key_comfy_org: 'secret' },
    ...fields,
  };
}

test('queue items are the 5-tuple, without the paid-API credentials', () => {
  const j = job();
  const r = record();
  expect(queueItem(j, r, ['3'])).toEqual([7, j.id, j.prompt, { client_id: 'c', extra_pnginfo: { workflow: {} } }, ['3']]);
  expect(publicExtraData(undefined)).toEqual({});
  expect(r.extraData.auth_token_comfy_org).toBe('secret');
});

test('the closing message: the backend\'s own when recorded, else made from the job', () => {
  const recorded = job({ state: 'completed' });
  const withRecord = record({
    backend: {
      outputs: {},
      status: { status_str: 'success', completed: true, messages: [['execution_start', { prompt_id: 'x' }], ['execution_success', { prompt_id: 'x', timestamp: 5 }]] },
    },
  });
  expect(closingMessage(recorded, withRecord)).toEqual({ type: 'execution_success', data: { prompt_id: 'x', timestamp: 5 } });
  expect(closingMessage(job({ state: 'completed', finishedAt: 9 }), record())).toEqual({ type: 'execution_success', data: { prompt_id: recorded.id, timestamp: 9 } });
  expect(closingMessage(job({ state: 'cancelled', finishedAt: 9 }), record(), '4')).toEqual({
    type: 'execution_interrupted',
    data: { prompt_id: recorded.id, node_id: '4', node_type: null, executed: [], timestamp: 9 },
  });
  const failed = closingMessage(job({ state: 'failed', error: 'gave up after 3 attempts', finishedAt: 9 }), record());
  expect(failed.type).toBe('execution_error');
  expect(failed.data).toMatchObject({ exception_message: 'gave up after 3 attempts', exception_type: 'BridgeError', traceback: [], current_inputs: {} });
  expect(isClosing('execution_error', { exception_type: 'ExecutionBlocked' })).toBe(false);
});

test('history lists what ran or failed; a prompt deleted before it started is not there', () => {
  expect(inHistory(job({ state: 'completed' }), record())).toBe(true);
  expect(inHistory(job({ state: 'failed' }), record())).toBe(true);
  expect(inHistory(job({ state: 'cancelled', startedAt: 1 }), record())).toBe(true);
  expect(inHistory(job({ state: 'cancelled' }), record())).toBe(false);
  expect(inHistory(job({ state: 'running' }), record())).toBe(false);
});

test('history entries show outputs under their backend tag, and a status even when none was recorded', () => {
  const done = job({ state: 'completed', backend: BACKEND });
  const doneRecord = record({
    backend: {
      outputs: { '3': { images: [{ filename: 'x_00001_.png', subfolder: '', type: 'output' }] } },
      status: { status_str: 'success', completed: true, messages: [] },
      meta: { '3': { node_id: '3' } },
    },
  });
  const entry = historyEntry(done, doneRecord, ['3']);
  expect(entry.prompt[1]).toBe(done.id);
  expect(entry.prompt[3]).not.toHaveProperty('api_key_comfy_org');
  expect(entry.outputs).toEqual({ '3': { images: [{ filename: 'x_00001_.png', subfolder: backendTag(BACKEND), type: 'output' }] } });
  expect(entry.meta).toEqual({ '3': { node_id: '3' } });
  const failed = historyEntry(job({ state: 'failed', error: 'no backend', finishedAt: 3 }), record(), []);
  expect(failed.outputs).toEqual({});
  expect(failed.status.status_str).toBe('error');
  expect(failed.status.completed).toBe(false);
  expect(failed.status.messages[0][0]).toBe('execution_error');
});

test('the history window: max_items alone is the newest N; offset counts from the oldest', () => {
  const all = [1, 2, 3, 4, 5];
  expect(historyWindow(all, undefined, undefined)).toEqual(all);
  expect(historyWindow(all, 2, undefined)).toEqual([4, 5]);
  expect(historyWindow(all, 2, 1)).toEqual([2, 3]);
  expect(historyWindow(all, undefined, 3)).toEqual([4, 5]);
  expect(historyWindow(all, 10, undefined)).toEqual(all);
  expect(historyWindow(all, 2, 9)).toEqual([]);
});
