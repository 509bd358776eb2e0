// @ts-check
// The page's copy of the feed: a snapshot, then deltas applied in order. Pure (no DOM): each
// apply answers which parts of the page need drawing again, and the page draws them at most once
// a frame.

/**
 * @typedef {import('../view.js').Snapshot} Snapshot
 * @typedef {import('../view.js').Delta} Delta
 * @typedef {import('../view.js').BackendView} BackendView
 * @typedef {import('../view.js').QueueRow} QueueRow
 * @typedef {import('../view.js').ProblemView} ProblemView
 * @typedef {import('../view.js').PreviewView} PreviewView
 * @typedef {import('../queue-diff.js').QueueChange<QueueRow>} QueueChange
 * @typedef {'bridge' | 'backends' | 'queue' | 'problems' | 'stats'} Part
 */

/**
 * @typedef {object} PageState
 * @property {number} v              feed version; -1 before the first snapshot
 * @property {number} at             server time of the last update (ms)
 * @property {number} skew           local clock minus server clock (ms), at the last update
 * @property {import('../view.js').BridgeView | undefined} bridge
 * @property {BackendView[]} backends   in the pool's order
 * @property {Map<string, BackendView>} backendById
 * @property {{ ids: string[], rows: Map<string, QueueRow> }} queue
 * @property {ProblemView[]} problems   newest last
 * @property {import('../view.js').StatsView | undefined} stats
 * @property {Map<string, string>} previews   job id → image (data: URL)
 * @property {Map<string, { jobId: string, src: string }>} lastImage   backend id → its latest preview, kept after the job ends
 */

/** How many problems the page keeps. */
export const PROBLEMS_KEPT = 100;

/** @returns {PageState} */
export function emptyState() {
  return {
    v: -1,
    at: 0,
    skew: 0,
    bridge: undefined,
    backends: [],
    backendById: new Map(),
    queue: { ids: [], rows: new Map() },
    problems: [],
    stats: undefined,
    previews: new Map(),
    lastImage: new Map(),
  };
}

/**
 * Replace everything with a snapshot.
 * @param {PageState} state
 * @param {Snapshot} snap
 * @param {number} [now]  local time it arrived
 * @returns {Set<Part>}
 */
export function applySnapshot(state, snap, now = Date.now()) {
  state.v = snap.v;
  state.at = snap.at;
  state.skew = now - snap.at;
  state.bridge = snap.bridge;
  state.backends = snap.backends;
  state.backendById = new Map(snap.backends.map((b) => [b.id, b]));
  state.queue = { ids: snap.queue.map((r) => r.id), rows: new Map(snap.queue.map((r) => [r.id, r])) };
  state.problems = snap.problems.slice(-PROBLEMS_KEPT);
  state.stats = snap.stats;
  state.previews = new Map();
  for (const p of snap.previews) addPreview(state, p);
  return new Set(/** @type {Part[]} */ (['bridge', 'backends', 'queue', 'problems', 'stats']));
}

/**
 * Apply the next delta. Answers undefined when it does not follow the version the page has (the
 * page then reconnects for a fresh snapshot).
 * @param {PageState} state
 * @param {Delta} delta
 * @param {number} [now]
 * @returns {Set<Part> | undefined}
 */
export function applyDelta(state, delta, now = Date.now()) {
  if (delta.v !== state.v + 1) return undefined;
  /** @type {Set<Part>} */
  const parts = new Set();
  state.v = delta.v;
  state.at = delta.at;
  state.skew = now - delta.at;
  if (delta.bridge) {
    state.bridge = delta.bridge;
    parts.add('bridge');
  }
  if (delta.backends) {
    const { set, removed, order } = delta.backends;
    for (const id of removed) state.backendById.delete(id);
    for (const b of set) state.backendById.set(b.id, b);
    const ids = order ?? state.backends.map((b) => b.id).filter((id) => state.backendById.has(id));
    for (const b of set) if (!ids.includes(b.id)) ids.push(b.id);
    state.backends = ids.map((id) => state.backendById.get(id)).filter((b) => b !== undefined);
    for (const id of removed) state.lastImage.delete(id);
    parts.add('backends');
  }
  if (delta.queue) {
    state.queue = applyQueueChange(state.queue, delta.queue);
    parts.add('queue');
  }
  if (delta.problems?.length) {
    state.problems = state.problems.concat(delta.problems).slice(-PROBLEMS_KEPT);
    parts.add('problems');
  }
  if (delta.stats) {
    state.stats = delta.stats;
    parts.add('stats');
  }
  if (delta.previews?.length) {
    for (const p of delta.previews) addPreview(state, p);
    parts.add('backends');
  }
  if (delta.previewsGone?.length) {
    for (const id of delta.previewsGone) state.previews.delete(id);
    parts.add('backends');
  }
  return parts;
}

/**
 * @param {PageState} state
 * @param {PreviewView} p
 */
function addPreview(state, p) {
  const src = `data:${p.mime};base64,${p.data}`;
  state.previews.set(p.jobId, src);
  const backend = p.backend ?? state.backends.find((b) => b.jobs.some((j) => j.id === p.jobId))?.id;
  if (backend !== undefined) state.lastImage.set(backend, { jobId: p.jobId, src });
}

/**
 * The queue after a change (see queue-diff.ts): jobs that left are dropped, runs of new ones
 * placed after the job named.
 * @param {{ ids: string[], rows: Map<string, QueueRow> }} queue
 * @param {QueueChange} change
 * @returns {{ ids: string[], rows: Map<string, QueueRow> }}
 */
export function applyQueueChange(queue, change) {
  if ('reset' in change) return { ids: change.reset.map((r) => r.id), rows: new Map(change.reset.map((r) => [r.id, r])) };
  const rows = queue.rows;
  let ids = queue.ids;
  if (change.removed.length) {
    const gone = new Set(change.removed);
    for (const id of change.removed) rows.delete(id);
    ids = ids.filter((id) => !gone.has(id));
  }
  if (change.inserted.length) {
    // Runs come in queue order, so each run's anchor is at or after the previous run's end.
    const out = [];
    let i = 0;
    for (const run of change.inserted) {
      if (run.after !== null) {
        while (i < ids.length && ids[i] !== run.after) out.push(ids[i++]);
        if (i < ids.length) out.push(ids[i++]);
      }
      for (const r of run.rows) {
        rows.set(r.id, r);
        out.push(r.id);
      }
    }
    while (i < ids.length) out.push(ids[i++]);
    ids = out;
  }
  return { ids, rows };
}

/**
 * What the estimates need of each backend (see eta.js).
 * @param {BackendView[]} backends
 * @returns {import('./eta.js').EtaBackend[]}
 */
export function etaBackends(backends) {
  return backends.map((b) => {
    const accepted = b.jobs.filter((j) => j.state !== 'dispatching').length;
    return {
      id: b.id,
      usable: b.state === 'up' && b.healthy && !b.draining,
      ...(b.secondsPerUnit !== undefined && { secondsPerUnit: b.secondsPerUnit }),
      ...(b.meanJobSeconds !== undefined && { meanJobSeconds: b.meanJobSeconds }),
      held: b.jobs.map((j) => ({ units: j.units, running: j.state === 'running', ...(j.progress !== undefined && { progress: j.progress }) })),
      foreign: Math.max(0, b.queueRemaining - accepted),
    };
  });
}
