import type { Job, JobState } from '../../src/jobs/job.js';
import { newJob } from '../../src/jobs/job.js';
import type { JobView } from '../../src/jobs/client-status.js';
import { DONE_DETAIL, summarize } from '../../src/jobs/client-status.js';

let counter = 0;
function job(state: JobState, extra: Partial<Job> = {}): Job {
  counter += 1;
  const j = newJob({ id: `job-${counter}`, clientId: 'c1', workflow: 'txt2img', prompt: {}, uploads: [], createdAt: counter });
  return { ...j, state, ...extra };
}

/** A view with fixed queue positions and fractions per job id. */
function view(positions: Record<string, number> = {}, fractions: Record<string, number> = {}): JobView & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    position: (j) => positions[j.id],
    fraction: (j) => {
      asked.push(j.id);
      return fractions[j.id] ?? 0;
    },
  };
}

describe('summarize', () => {
  test('no jobs → undefined', () => {
    expect(summarize([], view())).toBeUndefined();
  });

  describe('queued', () => {
    test('one queued job shows its position', () => {
      const a = job('queued');
      expect(summarize([a], view({ [a.id]: 7 }))).toEqual({ status: 'queued', detail: 'queued / 7' });
    });

    test('several queued jobs show the best position', () => {
      const a = job('queued');
      const b = job('queued');
      const c = job('queued');
      expect(summarize([a, b, c], view({ [a.id]: 9, [b.id]: 4, [c.id]: 12 }))).toEqual({ status: 'queued', detail: 'queued / 4' });
    });

    test('first in the queue', () => {
      const a = job('queued');
      expect(summarize([a], view({ [a.id]: 1 }))?.detail).toBe('queued / 1');
    });

    test('unknown positions are skipped', () => {
      const a = job('queued');
      const b = job('queued');
      expect(summarize([a, b], view({ [b.id]: 3 }))?.detail).toBe('queued / 3');
    });

    test('no known position at all → plain "queued"', () => {
      expect(summarize([job('queued'), job('queued')], view())).toEqual({ status: 'queued', detail: 'queued' });
    });

    test('queued carries no fraction', () => {
      const a = job('queued');
      expect(summarize([a], view({ [a.id]: 2 }))).not.toHaveProperty('fraction');
    });
  });

  describe('progress', () => {
    test('a job on a backend turns the status into progress', () => {
      const a = job('running');
      const s = summarize([a], view({}, { [a.id]: 0.25 }));
      expect(s).toEqual({ status: 'progress', detail: '25.00%', fraction: 0.25 });
    });

    test.each(['dispatching', 'submitted', 'running'] as const)('%s counts as started', (state) => {
      const a = job(state);
      expect(summarize([a], view({}, { [a.id]: 0.1262 }))).toEqual({ status: 'progress', detail: '12.62%', fraction: 0.1262 });
    });

    test('the fraction is the mean over the jobs; queued ones count 0', () => {
      const a = job('running');
      const b = job('queued');
      const s = summarize([a, b], view({ [b.id]: 1 }, { [a.id]: 0.5 }));
      expect(s?.status).toBe('progress');
      expect(s?.fraction).toBeCloseTo(0.25, 12);
      expect(s?.detail).toBe('25.00%');
    });

    test('finished jobs count as whole, without asking the view', () => {
      const done = job('completed');
      const failed = job('failed', { error: 'node 5 failed' });
      const running = job('running');
      const v = view({}, { [done.id]: 0, [failed.id]: 0, [running.id]: 0.5 });
      const s = summarize([done, failed, running], v);
      expect(s?.status).toBe('progress');
      expect(s?.fraction).toBeCloseTo(2.5 / 3, 12);
      expect(s?.detail).toBe('83.33%');
      expect(v.asked).toEqual([running.id]);
    });

    test('cancelled jobs are left out of the mean', () => {
      const a = job('running');
      const b = job('cancelled');
      const c = job('completed');
      const s = summarize([a, b, c], view({}, { [a.id]: 0.5 }));
      expect(s?.fraction).toBeCloseTo(0.75, 12);
      expect(s?.detail).toBe('75.00%');
    });

    test('a finished job next to a queued one is progress, not queued', () => {
      const a = job('completed');
      const b = job('queued');
      const s = summarize([a, b], view({ [b.id]: 2 }));
      expect(s).toEqual({ status: 'progress', detail: '50.00%', fraction: 0.5 });
    });

    test('a fresh running job reports 0.00%', () => {
      const a = job('submitted');
      expect(summarize([a], view())).toEqual({ status: 'progress', detail: '0.00%', fraction: 0 });
    });

    test('a mean that is not round is formatted to two decimals', () => {
      const jobs = [job('running'), job('running'), job('running')];
      const s = summarize(jobs, view({}, { [jobs[0].id]: 0.1, [jobs[1].id]: 0.2, [jobs[2].id]: 0.4 }));
      expect(s?.detail).toBe('23.33%');
    });
  });

  describe('all final', () => {
    test('all completed → closed "Execution is done"', () => {
      const s = summarize([job('completed'), job('completed')], view());
      expect(s).toEqual({ status: 'closed', detail: 'Execution is done' });
      expect(DONE_DETAIL).toBe('Execution is done');
    });

    test('a failed job → error with its message', () => {
      const bad = job('failed', { error: 'node 5 (KSampler) failed: RuntimeError: CUDA out of memory' });
      const s = summarize([job('completed'), bad, job('completed')], view());
      expect(s).toEqual({ status: 'error', detail: 'node 5 (KSampler) failed: RuntimeError: CUDA out of memory' });
    });

    test('a failed job without a message → "failed"', () => {
      expect(summarize([job('completed'), job('failed')], view())).toEqual({ status: 'error', detail: 'failed' });
    });

    test('a cancelled job → error, with its reason or "cancelled"', () => {
      expect(summarize([job('completed'), job('cancelled')], view())).toEqual({ status: 'error', detail: 'cancelled' });
      expect(summarize([job('cancelled', { error: 'cancelled by client' })], view())).toEqual({ status: 'error', detail: 'cancelled by client' });
    });

    test('with several bad jobs, the last one in the list is reported', () => {
      const first = job('failed', { error: 'first' });
      const second = job('failed', { error: 'second' });
      expect(summarize([first, job('completed'), second], view())?.detail).toBe('second');
      expect(summarize([second, job('completed'), first], view())?.detail).toBe('first');
    });

    test('does not reorder the caller’s list', () => {
      const jobs = [job('failed', { error: 'a' }), job('completed'), job('cancelled')];
      const ids = jobs.map((j) => j.id);
      summarize(jobs, view());
      expect(jobs.map((j) => j.id)).toEqual(ids);
    });

    test('a failure does not end the summary while other jobs still run', () => {
      const a = job('failed', { error: 'boom' });
      const b = job('running');
      const s = summarize([a, b], view({}, { [b.id]: 0 }));
      expect(s).toEqual({ status: 'progress', detail: '50.00%', fraction: 0.5 });
    });
  });
});
