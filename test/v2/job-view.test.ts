// The Job object from an engine job, pure: status mapping (expired, canceling), queue places,
// progress, outputs while running and once done, failures, retention.
import { newJob } from '../../src/jobs/job.js';
import type { Job } from '../../src/jobs/job.js';
import type { ComfyPrompt } from '../../src/comfy/protocol.js';
import { expiresAt, jobView, statusOf } from '../../src/v2/job-view.js';
import type { JobFacts } from '../../src/v2/job-view.js';
import { jobOutputs } from '../../src/v2/outputs.js';
import { ancestors } from '../../src/v2/node-progress.js';
import { outputAssetId } from '../../src/v2/asset-ids.js';

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 1);

const prompt: ComfyPrompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'KSampler', inputs: { latent: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
  '4': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'y' } },
};

function job(fields: Partial<Job> = {}): Job {
  return { ...newJob({ id: '0190a000-0000-7000-8000-000000000001', clientId: 'v2', workflow: '', prompt, uploads: [], createdAt: T0 }), ...fields };
}

function view(j: Job, facts: Partial<JobFacts> = {}) {
  return jobView({ job: j, now: T0 + 1000, position: undefined, cancelAsked: false, started: false, nodesDone: 0, sizeOf: () => undefined, base: 'http://h', ...facts });
}

const file = (filename: string, type = 'output') => ({ filename, subfolder: '', type });

test('engine states map to the spec\'s statuses; a cancel asked shows until the job is final', () => {
  expect(statusOf(job(), false, T0)).toBe('queued');
  expect(statusOf(job({ state: 'dispatching' }), false, T0)).toBe('queued');
  expect(statusOf(job({ state: 'submitted' }), false, T0)).toBe('queued');
  expect(statusOf(job({ state: 'running' }), false, T0)).toBe('running');
  expect(statusOf(job({ state: 'running' }), true, T0)).toBe('canceling');
  // Started, as its events said, before the record says so (a cluster's dispatcher writes that later).
  expect(statusOf(job({ state: 'submitted' }), false, T0, true)).toBe('running');
  expect(statusOf(job({ state: 'queued' }), false, T0, true)).toBe('queued');
  expect(statusOf(job(), true, T0)).toBe('canceling');
  expect(statusOf(job({ state: 'completed', finishedAt: T0 }), true, T0)).toBe('succeeded');
  expect(statusOf(job({ state: 'failed', finishedAt: T0 }), false, T0)).toBe('failed');
  expect(statusOf(job({ state: 'cancelled', finishedAt: T0 }), true, T0)).toBe('canceled');
});

test('retention: 24 h after the end, 10 min after collection; past it the job is expired and shows no outputs', () => {
  const done = job({ state: 'completed', finishedAt: T0, outputs: [{ ...file('a.png'), backend: 'http://b' }] });
  expect(expiresAt(done, T0)).toBe(T0 + 24 * HOUR);
  expect(expiresAt({ ...done, collectedAt: T0 + HOUR }, T0)).toBe(T0 + HOUR + 10 * 60_000);
  // An unfinished job is kept at least a day from now.
  expect(expiresAt(job(), T0 + 5 * HOUR)).toBe(T0 + 29 * HOUR);
  expect(statusOf(done, false, T0 + 24 * HOUR - 1)).toBe('succeeded');
  expect(statusOf(done, false, T0 + 24 * HOUR)).toBe('expired');
  const expired = view(done, { now: T0 + 25 * HOUR });
  expect(expired).toMatchObject({ status: 'expired', outputs: [], progress: null, expires_at: new Date(T0 + 24 * HOUR).toISOString() });
});

test('queue_position: the place in the bridge\'s queue; 0 once a backend has it; null when not waiting', () => {
  expect(view(job(), { position: 3 }).queue_position).toBe(3);
  expect(view(job({ state: 'submitted' })).queue_position).toBe(0);
  expect(view(job({ state: 'running' }), { position: 1 }).queue_position).toBeNull();
});

test('progress: the running node and its class, steps, a message, and nodes done; null before it starts', () => {
  expect(view(job()).progress).toBeNull();
  const running = job({ state: 'running', startedAt: T0 + 200, progress: { value: 0.42, node: '2', step: 21, steps: 50 } });
  expect(view(running, { nodesDone: 1 }).progress).toEqual({
    value: 0.42,
    nodes_done: 1,
    nodes_total: 4,
    current_node: '2',
    current_node_class: 'KSampler',
    step: 21,
    steps: 50,
    message: 'KSampler 21/50',
  });
  expect(view(running).metrics).toEqual({ queue_ms: 200, execution_ms: 800 });
  // Nodes the running one depends on must be done, whoever counted them.
  expect(ancestors(prompt, '3')).toBe(2);
  expect(ancestors(prompt, '1')).toBe(0);
});

test('outputs fill while the job runs (from its nodes\' reports) and come from the backend\'s record once it succeeded', () => {
  const running = job({
    state: 'running',
    backend: 'http://b',
    seq: 9,
    nodeOutputs: [{ node: '4', output: { images: [file('y_1.png')] }, seq: 7 }],
  });
  const live = jobOutputs(running);
  expect(live).toEqual([{ id: outputAssetId(running.id, file('y_1.png')), node: '4', kind: 'image', file: file('y_1.png'), backend: 'http://b', seq: 7 }]);
  expect(view(running, { sizeOf: () => 123 }).outputs).toEqual([
    {
      node_id: '4',
      name: 'y_1.png',
      type: 'image',
      content_type: 'image/png',
      size_bytes: 123,
      id: live[0].id,
      hash: null,
      url: `http://h/api/v2/assets/${live[0].id}/content`,
      url_expires_at: new Date(T0 + 1000 + 24 * HOUR).toISOString(),
    },
  ]);

  const done = {
    ...running,
    state: 'completed' as const,
    seq: 12,
    finishedAt: T0 + 1000,
    outputs: [
      { ...file('x_1.png'), backend: 'http://b' },
      { ...file('y_1.png'), backend: 'http://b' },
    ],
    record: { outputs: { '3': { images: [file('x_1.png')], text: ['not a file'] }, '4': { images: [file('y_1.png')] } } },
  };
  expect(jobOutputs(done).map((o) => [o.node, o.file.filename, o.seq])).toEqual([
    ['3', 'x_1.png', 12],
    ['4', 'y_1.png', 7],
  ]);

  // A failed prompt's record may name files of an earlier prompt: only this run's reports count.
  const failed = { ...done, state: 'failed' as const, outputs: [], record: { outputs: { '3': { images: [file('someone_else.png')] } } } };
  expect(jobOutputs(failed).map((o) => o.file.filename)).toEqual(['y_1.png']);
});

test('a failure without a node (the bridge gave up) is execution_failed with its reason', () => {
  const failed = job({ state: 'failed', finishedAt: T0, error: 'gave up after 3 attempts; last: backend went down' });
  expect(view(failed).error).toEqual({ code: 'execution_failed', message: 'gave up after 3 attempts; last: backend went down', node_id: null, class_type: null, traceback: null });
  expect(view(job({ state: 'cancelled', finishedAt: T0, error: 'cancelled through the API' })).error).toBeNull();
});
