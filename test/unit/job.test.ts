import type { JobState } from '../../src/jobs/job.js';
import { FINAL_STATES, ON_BACKEND_STATES, canMove, isFinal, isOnBackend, newJob } from '../../src/jobs/job.js';

const ALL: JobState[] = ['queued', 'dispatching', 'submitted', 'running', 'completed', 'failed', 'cancelled'];

/** Every allowed move; anything not listed must be refused. */
const ALLOWED: Record<JobState, JobState[]> = {
  queued: ['dispatching', 'cancelled', 'failed'],
  dispatching: ['submitted', 'running', 'completed', 'queued', 'failed', 'cancelled'],
  submitted: ['running', 'completed', 'queued', 'failed', 'cancelled'],
  running: ['completed', 'queued', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

describe('canMove', () => {
  const pairs = ALL.flatMap((from) => ALL.map((to) => [from, to, ALLOWED[from].includes(to)] as const));

  test.each(pairs)('%s → %s: %s', (from, to, allowed) => {
    expect(canMove(from, to)).toBe(allowed);
  });

  test('the happy path is allowed step by step', () => {
    const path: JobState[] = ['queued', 'dispatching', 'submitted', 'running', 'completed'];
    for (let i = 1; i < path.length; i++) expect(canMove(path[i - 1], path[i])).toBe(true);
  });

  test('no state moves to itself', () => {
    for (const s of ALL) expect(canMove(s, s)).toBe(false);
  });

  test('final states never move', () => {
    for (const from of ['completed', 'failed', 'cancelled'] as const) {
      for (const to of ALL) expect(canMove(from, to)).toBe(false);
    }
  });

  test('every non-final state can be cancelled or failed', () => {
    for (const from of ['queued', 'dispatching', 'submitted', 'running'] as const) {
      expect(canMove(from, 'cancelled')).toBe(true);
      expect(canMove(from, 'failed')).toBe(true);
    }
  });

  test('a job on a backend can go back to the queue; a queued one cannot skip dispatching', () => {
    for (const from of ['dispatching', 'submitted', 'running'] as const) expect(canMove(from, 'queued')).toBe(true);
    expect(canMove('queued', 'submitted')).toBe(false);
    expect(canMove('queued', 'running')).toBe(false);
    expect(canMove('queued', 'completed')).toBe(false);
  });

  test('a running job does not go back to submitted or dispatching', () => {
    expect(canMove('running', 'submitted')).toBe(false);
    expect(canMove('running', 'dispatching')).toBe(false);
    expect(canMove('submitted', 'dispatching')).toBe(false);
  });
});

describe('isFinal / isOnBackend', () => {
  test.each([
    ['queued', false, false],
    ['dispatching', false, true],
    ['submitted', false, true],
    ['running', false, true],
    ['completed', true, false],
    ['failed', true, false],
    ['cancelled', true, false],
  ] as const)('%s: final %s, on backend %s', (state, final, onBackend) => {
    expect(isFinal({ state })).toBe(final);
    expect(isOnBackend({ state })).toBe(onBackend);
  });

  test('the sets agree with the predicates and do not overlap', () => {
    expect([...FINAL_STATES].sort()).toEqual(['cancelled', 'completed', 'failed']);
    expect([...ON_BACKEND_STATES].sort()).toEqual(['dispatching', 'running', 'submitted']);
    for (const s of FINAL_STATES) expect(ON_BACKEND_STATES.has(s)).toBe(false);
  });

  test('final states are exactly those with no way out', () => {
    for (const s of ALL) expect(isFinal({ state: s })).toBe(ALL.every((to) => !canMove(s, to)));
  });
});

describe('newJob', () => {
  const fields = {
    id: '0b8f5a3e-2b7e-4c55-9a6f-1f2d3c4b5a69',
    clientId: 'client-a',
    workflow: 'txt2img',
    prompt: { '1': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } } },
    uploads: ['in.png'],
  };

  test('fills the defaults', () => {
    const before = Date.now();
    const job = newJob(fields);
    const after = Date.now();
    expect(job).toMatchObject({ ...fields, state: 'queued', priority: 0, attempts: 0, outputs: [] });
    expect(job.createdAt).toBeGreaterThanOrEqual(before);
    expect(job.createdAt).toBeLessThanOrEqual(after);
    for (const key of ['backend', 'startedAt', 'finishedAt', 'error', 'collectedAt'] as const) expect(job[key]).toBeUndefined();
  });

  test('keeps a given priority and createdAt, including zero values', () => {
    expect(newJob({ ...fields, priority: -5, createdAt: 1234 })).toMatchObject({ priority: -5, createdAt: 1234 });
    expect(newJob({ ...fields, priority: 3, createdAt: 0 })).toMatchObject({ priority: 3, createdAt: 0 });
  });

  test('a new job is queued, not final and not on a backend', () => {
    const job = newJob(fields);
    expect(isFinal(job)).toBe(false);
    expect(isOnBackend(job)).toBe(false);
  });

  test('jobs do not share their outputs list', () => {
    const a = newJob(fields);
    const b = newJob(fields);
    a.outputs.push({ filename: 'a.png', subfolder: '', type: 'output', backend: 'http://gpu1:8188' });
    expect(b.outputs).toEqual([]);
  });
});
