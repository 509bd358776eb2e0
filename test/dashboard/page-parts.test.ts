// The page's pure parts: its copy of the feed (state.js), sparklines, and the server's buckets
// behind them (stats.ts).
import { applyDelta, applySnapshot, emptyState, etaBackends } from '../../src/dashboard/public/state.js';
import { sparkArea, sparkPath } from '../../src/dashboard/public/sparkline.js';
import { duration } from '../../src/dashboard/public/format.js';
import { ThroughputStats } from '../../src/dashboard/stats.js';
import type { BackendView, Snapshot } from '../../src/dashboard/view.js';

function backend(id: string, fields: Partial<BackendView> = {}): BackendView {
  return { id, url: `http://${id}:8188`, state: 'up', healthy: true, draining: false, labels: [], jobs: [], queueRemaining: 0, ...fields };
}

function snapshot(fields: Partial<Snapshot> = {}): Snapshot {
  const stats = new ThroughputStats().view(0);
  return { v: 3, at: 1000, bridge: { counts: { waiting: 0, onBackends: 0, unfinished: 0 }, ready: true }, backends: [], queue: [], problems: [], stats, previews: [], ...fields };
}

describe('the page state', () => {
  test('deltas apply in order only; one out of step asks for a new snapshot', () => {
    const state = emptyState();
    applySnapshot(state, snapshot({ backends: [backend('a'), backend('b')] }), 1500);
    expect(state.skew).toBe(500);
    expect(applyDelta(state, { v: 5, at: 2000 })).toBeUndefined();
    expect(state.v).toBe(3);
    const parts = applyDelta(state, { v: 4, at: 2000, backends: { set: [backend('b', { state: 'draining', draining: true })], removed: [] } });
    expect([...parts!]).toEqual(['backends']);
    expect(state.backends.map((b) => [b.id, b.state])).toEqual([
      ['a', 'up'],
      ['b', 'draining'],
    ]);
  });

  test('backends added, removed and reordered', () => {
    const state = emptyState();
    applySnapshot(state, snapshot({ backends: [backend('a'), backend('b')] }));
    applyDelta(state, { v: 4, at: 0, backends: { set: [backend('c')], removed: ['a'], order: ['c', 'b'] } });
    expect(state.backends.map((b) => b.id)).toEqual(['c', 'b']);
    expect(state.backendById.has('a')).toBe(false);
  });

  test('a backend keeps showing its latest preview after the job ends', () => {
    const state = emptyState();
    const job = { id: 'j1', state: 'running', clientId: 'c', tenant: '', workflow: 'w', units: 10, attempts: 1 };
    applySnapshot(state, snapshot({ backends: [backend('a', { jobs: [job] })] }));
    applyDelta(state, { v: 4, at: 0, previews: [{ jobId: 'j1', mime: 'image/png', data: 'AAAA' }] });
    expect(state.previews.get('j1')).toBe('data:image/png;base64,AAAA');
    applyDelta(state, { v: 5, at: 0, previewsGone: ['j1'], backends: { set: [backend('a')], removed: [] } });
    expect(state.previews.has('j1')).toBe(false);
    expect(state.lastImage.get('a')).toEqual({ jobId: 'j1', src: 'data:image/png;base64,AAAA' });
  });

  test('what the estimates need: draining backends take nothing, others\' prompts count', () => {
    const running = { id: 'j1', state: 'running', progress: 0.5, clientId: 'c', tenant: '', workflow: 'w', units: 10, attempts: 1 };
    const sending = { id: 'j2', state: 'dispatching', clientId: 'c', tenant: '', workflow: 'w', units: 4, attempts: 1 };
    const [a, b] = etaBackends([backend('a', { jobs: [running, sending], queueRemaining: 3, secondsPerUnit: 0.1 }), backend('b', { state: 'draining', draining: true })]);
    expect(a).toEqual({
      id: 'a',
      usable: true,
      secondsPerUnit: 0.1,
      held: [
        { units: 10, running: true, progress: 0.5 },
        { units: 4, running: false },
      ],
      // Three in its queue, one of them ours (the one being sent is not in it yet).
      foreign: 2,
    });
    expect(b.usable).toBe(false);
  });
});

describe('sparklines', () => {
  test('values scale to the box, the largest at the top; gaps break the line', () => {
    expect(sparkPath([0, 5, 10], 100, 20)).toBe('M0 20L50 10L100 0');
    expect(sparkPath([1, null, 1], 100, 20, 2)).toBe('M0 10M100 10');
    expect(sparkPath([], 100, 20)).toBe('');
    expect(sparkPath([0, 0], 100, 20)).toBe('M0 20L100 20');
  });

  test('the area closes down to the baseline', () => {
    expect(sparkArea([0, 10], 100, 20)).toBe('M0 20L0 20L100 0L100 20Z');
  });
});

describe('durations', () => {
  test.each([
    [0.25, '250 ms'],
    [3.21, '3.2 s'],
    [42, '42 s'],
    [200, '3 m 20 s'],
    [3900, '1 h 05 m'],
    [-5, '0 ms'],
    [undefined, '—'],
  ])('%p s is %p', (s, text) => expect(duration(s)).toBe(text));
});

describe('ThroughputStats', () => {
  test('counts per bucket, newest last, and forgets what falls out of the window', () => {
    const stats = new ThroughputStats(10_000, 3);
    stats.finished(1_000, true);
    stats.finished(12_000, true);
    stats.finished(13_000, false);
    stats.waited(14_000, 2);
    stats.waited(15_000, 4);
    const view = stats.view(25_000);
    expect(view).toEqual({ bucketMs: 10_000, end: 30_000, finished: [1, 1, 0], failed: [0, 1, 0], waitMean: [null, 3, null], waitMax: [null, 4, null] });
    expect(stats.view(45_000).finished).toEqual([0, 0, 0]);
  });
});
