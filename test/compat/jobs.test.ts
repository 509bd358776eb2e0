// The jobs API's shapes and query, as ComfyUI's server builds and reads them.
import { finishedJob, jobOutputs, jobsPage, outputsSummary, queuedJob, readJobsQuery } from '../../src/compat/jobs.js';
import type { JobView } from '../../src/compat/jobs.js';
import type { HistoryEntryView, QueueItem } from '../../src/compat/entries.js';

const query = (params: Record<string, string>) => readJobsQuery((name) => params[name]);

test('the query: defaults, statuses in any case, and ComfyUI’s reasons for what it refuses', () => {
  expect(query({})).toEqual({ ok: true, query: { sortBy: 'created_at', sortOrder: 'desc', offset: 0 } });
  expect(query({ status: ' Pending, in_progress ,', sort_by: 'EXECUTION_DURATION', sort_order: 'Asc', limit: ' 5 ', offset: '1_0', workflow_id: 'w' })).toEqual({
    ok: true,
    query: { statuses: ['pending', 'in_progress'], sortBy: 'execution_duration', sortOrder: 'asc', limit: 5, offset: 10, workflowId: 'w' },
  });
  // Only commas: a filter that lets nothing through. Empty: no filter.
  expect(query({ status: ',' })).toMatchObject({ ok: true, query: { statuses: [] } });
  expect(query({ status: '' })).toEqual({ ok: true, query: { sortBy: 'created_at', sortOrder: 'desc', offset: 0 } });
  expect(query({ offset: '-3' })).toMatchObject({ ok: true, query: { offset: 0 } });

  expect(query({ status: 'done,failed,running' })).toEqual({ ok: false, error: 'Invalid status value(s): done, running. Valid values: pending, in_progress, completed, failed, cancelled' });
  expect(query({ sort_by: 'name' })).toEqual({ ok: false, error: "sort_by must be 'created_at' or 'execution_duration'" });
  expect(query({ sort_order: 'up' })).toEqual({ ok: false, error: "sort_order must be 'asc' or 'desc'" });
  expect(query({ limit: '0' })).toEqual({ ok: false, error: 'limit must be a positive integer' });
  expect(query({ limit: '-2' })).toEqual({ ok: false, error: 'limit must be a positive integer' });
  expect(query({ limit: '2.5' })).toEqual({ ok: false, error: 'limit must be an integer' });
  expect(query({ limit: '' })).toEqual({ ok: false, error: 'limit must be an integer' });
  expect(query({ offset: 'x' })).toEqual({ ok: false, error: 'offset must be an integer' });
});

function view(id: string, status: JobView['status'], created: number, run?: [number, number]): JobView {
  return {
    id,
    status,
    priority: 0,
    create_time: created,
    ...(run && { execution_start_time: run[0], execution_end_time: run[1] }),
    outputs_count: 0,
    previewable_outputs_count: 0,
  };
}

test('the page: filtered, sorted stably (newest first by default), then offset and limit', () => {
  const jobs = [view('run', 'in_progress', 30), view('p1', 'pending', 40), view('p2', 'pending', 40), view('done', 'completed', 10, [11, 20]), view('bad', 'failed', 20, [21, 22])];
  const all = (q: Record<string, string>) => {
    const read = query(q);
    if (!read.ok) throw new Error(read.error);
    return jobsPage(jobs, read.query);
  };
  expect(all({}).jobs.map((j) => j.id)).toEqual(['p1', 'p2', 'run', 'bad', 'done']);
  expect(all({ sort_order: 'asc' }).jobs.map((j) => j.id)).toEqual(['done', 'bad', 'run', 'p1', 'p2']);
  // Without a start and an end the duration is 0.
  expect(all({ sort_by: 'execution_duration' }).jobs.map((j) => j.id)).toEqual(['done', 'bad', 'run', 'p1', 'p2']);
  expect(all({ status: 'completed,failed' }).jobs.map((j) => j.id)).toEqual(['bad', 'done']);
  expect(all({ limit: '2', offset: '1' })).toEqual({ jobs: [jobs[2], jobs[0]], pagination: { offset: 1, limit: 2, total: 5, has_more: true } });
  expect(all({ offset: '4' }).pagination).toEqual({ offset: 4, limit: null, total: 5, has_more: false });
  expect(all({ offset: '9' })).toEqual({ jobs: [], pagination: { offset: 9, limit: null, total: 5, has_more: false } });
});

test('outputs: files counted, raw text not; the preview is a saved image, else a temp one, else a text file, else text', () => {
  const tag = 'backend-0123abcd';
  const outputs = {
    '2': { text: ['hello'] },
    '4': { images: [{ filename: 't.png', subfolder: tag, type: 'temp' }] },
    '5': { latents: [{ filename: 'x.latent', subfolder: tag, type: 'output' }], animated: [false] },
    '9': { images: [{ filename: 's.png', subfolder: tag, type: 'output' }] },
    '10': { mesh: ['m.glb', null, 'not-a-file'] },
  };
  expect(outputsSummary(outputs, tag)).toEqual({
    count: 4,
    previewable: 3,
    preview: { filename: 's.png', subfolder: tag, type: 'output', nodeId: '9', mediaType: 'images' },
  });
  expect(outputsSummary({ '4': outputs['4'], '2': outputs['2'] }).preview).toMatchObject({ filename: 't.png', nodeId: '4' });
  expect(outputsSummary({ '7': { text: [{ filename: 'a.txt', type: 'output' }] }, '2': outputs['2'] }).preview).toMatchObject({ filename: 'a.txt', mediaType: 'text' });
  expect(outputsSummary({ '2': { text: ['x'.repeat(2000)] } })).toEqual({ count: 0, previewable: 0, preview: { content: 'x'.repeat(1024), truncated: true, nodeId: '2', mediaType: 'text' } });
  expect(outputsSummary({})).toEqual({ count: 0, previewable: 0 });
  // A bare 3D file name becomes a file reference under its backend's tag, so /view finds it.
  expect(jobOutputs(outputs, tag)['10']).toEqual({ mesh: [{ filename: 'm.glb', type: 'output', subfolder: tag, mediaType: '3d' }, 'not-a-file'] });
  expect(jobOutputs(outputs, tag)['5']).toEqual(outputs['5']);
});

const extra = { client_id: 'c', extra_pnginfo: { workflow: { id: 'wf-1' } } };
const item: QueueItem = [7, 'id-1', { '1': { class_type: 'X', inputs: {} } }, extra, ['1']];

test('a queued or running prompt: its number as priority, no outputs yet; the detail carries its workflow', () => {
  expect(queuedJob(item, 'pending', 1000)).toEqual({ id: 'id-1', status: 'pending', priority: 7, create_time: 1000, outputs_count: 0, previewable_outputs_count: 0, workflow_id: 'wf-1' });
  expect(queuedJob(item, 'in_progress', 1000, true).workflow).toEqual({ prompt: item[2], extra_data: extra });
});

function entry(status: HistoryEntryView['status'], outputs: Record<string, unknown> = {}): HistoryEntryView {
  return { prompt: item, outputs, status, meta: {} };
}

test('a finished prompt: status from its history entry (an interruption is cancelled), times from its messages', () => {
  const ok = entry({ status_str: 'success', completed: true, messages: [['execution_start', { prompt_id: 'id-1', timestamp: 1100 }], ['execution_success', { prompt_id: 'id-1', timestamp: 1900 }]] });
  expect(finishedJob('id-1', ok, { created: 1000, started: 1, ended: 2 }, undefined)).toEqual({
    id: 'id-1',
    status: 'completed',
    priority: 7,
    create_time: 1000,
    execution_start_time: 1100,
    execution_end_time: 1900,
    outputs_count: 0,
    previewable_outputs_count: 0,
    workflow_id: 'wf-1',
  });
  const error = { prompt_id: 'id-1', exception_message: 'boom', timestamp: 1500 };
  const failed = finishedJob('id-1', entry({ status_str: 'error', completed: false, messages: [['execution_error', error]] }), { created: 1000, started: 1200 }, undefined, true);
  expect(failed).toMatchObject({ status: 'failed', execution_start_time: 1200, execution_end_time: 1500, execution_error: error });
  expect(failed.execution_status).toEqual({ status_str: 'error', completed: false, messages: [['execution_error', error]] });
  expect(failed.workflow).toEqual({ prompt: item[2], extra_data: extra });
  expect(failed.outputs).toEqual({});
  const interrupted = entry({ status_str: 'error', completed: false, messages: [['execution_interrupted', { prompt_id: 'id-1', timestamp: 1300 }]] });
  expect(finishedJob('id-1', interrupted, { created: 1000 }, undefined)).toMatchObject({ status: 'cancelled', execution_end_time: 1300 });
  expect(finishedJob('id-1', interrupted, { created: 1000 }, undefined)).not.toHaveProperty('execution_start_time');
});
