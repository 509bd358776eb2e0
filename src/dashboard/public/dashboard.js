// The dashboard page: reads the live feed into its state, draws what changed at most once a frame,
// and sends the operator's actions with the admin token (kept in this tab's sessionStorage only).
import { openFeed } from './feed.js';
import { applyDelta, applySnapshot, emptyState, etaBackends } from './state.js';
import { queueEtas } from './eta.js';
import { sparkArea, sparkPath } from './sparkline.js';
import { clock, duration, owner, percent, shortId } from './format.js';
import { VirtualList, setText } from './virtual-list.js';

const TOKEN_KEY = 'comfy-bridge.admin-token';
/** Estimates are worked out this far down the queue at most. */
const ETA_LIMIT = 5000;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

let state = emptyState();
/** Parts to draw at the next frame. */
const dirty = new Set();
let frame = 0;

function redraw(/** @type {Iterable<string>} */ parts) {
  for (const p of parts) dirty.add(p);
  if (!frame) frame = requestAnimationFrame(draw);
}

// ── the admin token ─────────────────────────────────────────────────────────────────────────

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function setToken(/** @type {string} */ value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage refused (private mode): the token lasts until the page closes
  }
}

// ── the feed ────────────────────────────────────────────────────────────────────────────────

/** @type {ReturnType<typeof openFeed> | undefined} */
let feed;

function setStatus(/** @type {'connecting' | 'live' | 'reconnecting' | 'denied'} */ status, /** @type {string | undefined} */ detail) {
  const pill = $('connection');
  pill.dataset.status = status;
  setText(pill, { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', denied: 'locked' }[status]);
  const banner = $('denied');
  banner.hidden = status !== 'denied';
  if (status === 'denied') setText(banner, detail ?? 'The dashboard needs the admin token.');
}

/** @param {string} event @param {any} data */
function onEvent(event, data) {
  if (event === 'snapshot') {
    state = emptyState();
    redraw(applySnapshot(state, data));
    redraw(['overview']);
    return;
  }
  if (event !== 'delta') return;
  const parts = applyDelta(state, data);
  if (!parts) {
    // Out of step: a fresh snapshot puts it right.
    feed?.restart();
    return;
  }
  redraw(parts);
  if (parts.has('stats') || parts.has('bridge') || parts.has('backends') || parts.has('queue')) redraw(['overview']);
}

let probeTimer = 0;
/** Ask whether the token (or an open bridge) makes this page the operator, then open the feed. */
async function connect() {
  clearTimeout(probeTimer);
  setStatus('connecting');
  let access;
  try {
    const t = token();
    const res = await fetch('dashboard/access', { headers: t ? { Authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
    access = await res.json();
  } catch {
    setStatus('reconnecting');
    probeTimer = window.setTimeout(connect, 2000);
    return;
  }
  if (!access.operator) {
    feed?.close();
    feed = undefined;
    setStatus('denied', access.detail);
    return;
  }
  if (feed) feed.restart();
  else feed = openFeed({ url: 'dashboard/events', token, onEvent, onStatus: setStatus });
}

// ── drawing ─────────────────────────────────────────────────────────────────────────────────

/** Server time now, by the offset seen at the last update. */
function serverNow() {
  return Date.now() - state.skew;
}

/** Seconds since the last update (estimates are as of then). */
function sinceUpdate() {
  return Math.max(0, (serverNow() - state.at) / 1000);
}

/** @type {{ key: string, etas: ReturnType<typeof queueEtas> }} */
let etaMemo = { key: '', etas: [] };
function etas() {
  const key = `${state.v}`;
  if (etaMemo.key !== key) {
    const waiting = [];
    const n = Math.min(state.queue.ids.length, ETA_LIMIT);
    for (let i = 0; i < n; i++) waiting.push({ units: state.queue.rows.get(state.queue.ids[i])?.units });
    etaMemo = { key, etas: queueEtas(etaBackends(state.backends), waiting) };
  }
  return etaMemo.etas;
}

function draw() {
  frame = 0;
  const parts = new Set(dirty);
  dirty.clear();
  if (parts.has('overview') || parts.has('clock')) drawOverview();
  if (parts.has('backends') || parts.has('clock')) backendList.render(state.backends.length);
  if (parts.has('queue') || parts.has('backends') || parts.has('clock')) queueList.render(state.queue.ids.length);
  if (parts.has('problems')) problemList.render(state.problems.length);
  if (parts.has('problems')) drawOverview();
}

/** Buckets a sparkline shows at least: three minutes of 10 s buckets. */
const MIN_BUCKETS = 18;

/**
 * The stats from the first bucket with anything in it (at least MIN_BUCKETS), so a bridge that
 * just started does not draw a quarter of an hour of nothing.
 * @param {import('../view.js').StatsView} s
 */
function recentStats(s) {
  let first = s.finished.findIndex((n, i) => n > 0 || s.failed[i] > 0 || s.waitMean[i] !== null);
  if (first < 0) first = s.finished.length;
  const from = Math.max(0, Math.min(first, s.finished.length - MIN_BUCKETS));
  return { ...s, finished: s.finished.slice(from), failed: s.failed.slice(from), waitMean: s.waitMean.slice(from), waitMax: s.waitMax.slice(from) };
}

const SPARK_W = 240;
const SPARK_H = 40;

function drawOverview() {
  const full = state.stats;
  if (full) {
    const s = recentStats(full);
    const perMinute = 60_000 / s.bucketMs;
    const lastMinute = Math.max(1, Math.round(perMinute));
    const done = s.finished.map((n, i) => (n + s.failed[i]) * perMinute);
    const failed = s.failed.map((n) => n * perMinute);
    const top = Math.max(1, ...done);
    const tp = $('throughput-spark');
    tp.querySelector('.area')?.setAttribute('d', sparkArea(done, SPARK_W, SPARK_H, top));
    tp.querySelector('.line:not(.failed)')?.setAttribute('d', sparkPath(done, SPARK_W, SPARK_H, top));
    tp.querySelector('.line.failed')?.setAttribute('d', sparkPath(failed, SPARK_W, SPARK_H, top));
    const recent = (/** @type {number[]} */ a) => a.slice(-lastMinute).reduce((x, y) => x + y, 0);
    setText($('throughput'), String(recent(s.finished) + recent(s.failed)));
    setText($('finished-15'), String(s.finished.reduce((a, b) => a + b, 0)));
    setText($('failed-15'), String(s.failed.reduce((a, b) => a + b, 0)));
    const wp = $('wait-spark');
    const waits = s.waitMean;
    wp.querySelector('.area')?.setAttribute('d', sparkArea(waits, SPARK_W, SPARK_H));
    wp.querySelector('.line')?.setAttribute('d', sparkPath(waits, SPARK_W, SPARK_H));
    const recentWaits = waits.slice(-lastMinute).filter((w) => w !== null);
    setText($('wait'), recentWaits.length ? duration(recentWaits.reduce((a, b) => a + b, 0) / recentWaits.length) : '—');
    const longest = s.waitMax.filter((w) => w !== null);
    setText($('wait-max'), longest.length ? duration(Math.max(...longest)) : '—');
  }
  const b = state.bridge;
  if (b) {
    setText($('waiting'), String(b.counts.waiting));
    setText($('on-backends'), String(b.counts.onBackends));
    setText($('unfinished'), String(b.counts.unfinished));
    const role = $('role');
    role.hidden = b.role === undefined;
    if (b.role) setText(role, b.role);
  }
  const all = etas();
  const last = all[all.length - 1];
  setText($('queue-eta'), state.queue.ids.length === 0 ? 'now' : last ? `~${duration(last.finishesIn - sinceUpdate())}` : '— (no speed learned yet)');
  let up = 0;
  let draining = 0;
  let down = 0;
  for (const x of state.backends) {
    if (x.state === 'draining') draining++;
    else if (x.state === 'up') up++;
    else down++;
  }
  setText($('backends-up'), `${up}/${state.backends.length}`);
  setText($('backends-draining'), String(draining));
  setText($('backends-down'), String(down));
  setText($('backend-count'), String(state.backends.length));
  setText($('queue-count'), String(state.queue.ids.length));
  setText($('problem-count'), String(state.problems.length));
  const live = state.v >= 0;
  $('backends-empty').hidden = !live || state.backends.length > 0;
  $('queue-empty').hidden = !live || state.queue.ids.length > 0;
  $('problems-empty').hidden = !live || state.problems.length > 0;
}

// ── rows ────────────────────────────────────────────────────────────────────────────────────

/**
 * A row built from markup of our own (no data in it), with its parts found once.
 * @param {string} className
 * @param {string} html
 */
function rowOf(className, html) {
  const row = document.createElement('div');
  row.className = className;
  row.setAttribute('role', 'listitem');
  row.innerHTML = html;
  /** @type {Record<string, HTMLElement>} */
  const parts = {};
  for (const el of row.querySelectorAll('[data-part]')) parts[/** @type {HTMLElement} */ (el).dataset.part ?? ''] = /** @type {HTMLElement} */ (el);
  return Object.assign(row, { parts });
}

/** Backends whose removal waits for a second click, until when. */
const confirming = new Map();
/** Actions under way: "action:id". */
const pending = new Set();

const backendList = new VirtualList($('backend-list'), {
  rowHeight: 84,
  onScroll: () => redraw(['backends']),
  create: () =>
    rowOf(
      'backend-row backend-grid',
      `<div class="b-who">
         <div><span class="dot" data-part="dot"></span><span class="badge" data-part="state"></span><span class="mono url" data-part="url"></span></div>
         <div class="muted small" data-part="meta"></div>
         <div class="muted small models" data-part="models"></div>
       </div>
       <div class="b-job">
         <div><span class="mono" data-part="job"></span> <span class="muted small" data-part="owner"></span></div>
         <div class="bar"><div class="bar-fill" data-part="bar"></div></div>
         <div class="muted small" data-part="step"></div>
       </div>
       <div class="b-preview"><img data-part="preview" alt="latest preview" width="64" height="64"></div>
       <div class="b-queue">
         <div data-part="queue"></div>
         <div class="muted small" data-part="speed"></div>
         <div class="muted small" data-part="rate"></div>
       </div>
       <div class="b-actions">
         <button type="button" data-action="toggle-drain" data-part="drain"></button>
         <button type="button" data-action="free" data-part="free">Free</button>
         <button type="button" data-action="remove" data-part="remove" class="danger"></button>
         <button type="button" data-action="cancel-job" data-part="cancel" class="danger">Cancel job</button>
       </div>`,
    ),
  update(el, index) {
    const row = /** @type {HTMLElement & { parts: Record<string, HTMLElement> }} */ (el);
    const b = state.backends[index];
    if (!b) return;
    const p = row.parts;
    row.dataset.id = b.id;
    row.dataset.state = b.removed ? 'removed' : b.state;
    setText(p.state, b.removed ? 'removed' : b.state);
    setText(p.url, b.url);
    const meta = [b.version ? `ComfyUI ${b.version}` : '', b.labels.length ? b.labels.join(', ') : ''].filter(Boolean).join(' · ');
    setText(p.meta, meta);
    setText(p.models, b.models?.length ? `models: ${b.models.join(', ')}` : '');
    const job = b.jobs.find((j) => j.state === 'running') ?? b.jobs[0];
    setText(p.job, job ? shortId(job.id) : 'idle');
    p.job.title = job?.id ?? '';
    setText(p.owner, job ? `${owner(job.tenant, job.clientId)} · ${job.workflow || 'prompt'}` : '');
    const width = job?.state === 'running' ? percent(job.progress ?? 0) || '0%' : '0%';
    if (p.bar.style.width !== width) p.bar.style.width = width;
    let step = '';
    if (job) {
      if (job.state !== 'running') step = job.state;
      else {
        const parts = [percent(job.progress ?? 0)];
        if (job.steps) parts.push(`step ${Math.floor(job.step ?? 0)}/${job.steps}`);
        if (job.node) parts.push(`node ${job.node}`);
        if (job.startedAt) parts.push(duration((serverNow() - job.startedAt) / 1000));
        step = parts.join(' · ');
      }
    }
    setText(p.step, step);
    const img = /** @type {HTMLImageElement & { shown?: string }} */ (p.preview);
    const src = (job && state.previews.get(job.id)) ?? state.lastImage.get(b.id)?.src ?? '';
    if (img.shown !== src) {
      img.shown = src;
      if (src) img.src = src;
      else img.removeAttribute('src');
    }
    img.classList.toggle('stale', !job || !state.previews.has(job.id));
    const ours = b.jobs.length;
    const others = Math.max(0, b.queueRemaining - b.jobs.filter((j) => j.state !== 'dispatching').length);
    setText(p.queue, `${b.queueRemaining} in queue${others ? ` (${others} not ours)` : ''}`);
    p.queue.title = `${ours} of ours on it; its whole queue: ${b.queueRemaining}`;
    setText(p.speed, b.meanJobSeconds !== undefined ? `${duration(b.meanJobSeconds)} a job` : 'speed not learned yet');
    setText(p.rate, b.secondsPerUnit !== undefined ? `${duration(b.secondsPerUnit)} a unit` : '');
    setText(p.drain, b.state === 'draining' || b.draining ? 'Resume' : 'Drain');
    const until = confirming.get(b.id);
    setText(p.remove, until && until > Date.now() ? 'Confirm remove' : 'Remove');
    // A removed backend only finishes what it runs: nothing to drain, resume or remove.
    p.drain.hidden = p.remove.hidden = p.free.hidden = b.removed === true;
    p.cancel.hidden = !job;
    p.cancel.dataset.job = job?.id ?? '';
    for (const [name, action] of [['drain', 'toggle-drain'], ['free', 'free'], ['remove', 'remove']]) {
      /** @type {HTMLButtonElement} */ (p[name]).disabled = pending.has(`${action}:${b.id}`);
    }
    /** @type {HTMLButtonElement} */ (p.cancel).disabled = job !== undefined && pending.has(`cancel-job:${job.id}`);
  },
});

const queueList = new VirtualList($('queue-list'), {
  rowHeight: 34,
  onScroll: () => redraw(['queue']),
  create: () =>
    rowOf(
      'queue-row queue-grid',
      `<span class="muted" data-part="pos"></span>
       <span class="mono" data-part="id"></span>
       <span class="ellipsis" data-part="owner"></span>
       <span data-part="wait"></span>
       <span data-part="eta"></span>
       <span><button type="button" data-action="cancel-job" data-part="cancel" class="danger small-button">Cancel</button></span>`,
    ),
  update(el, index) {
    const row = /** @type {HTMLElement & { parts: Record<string, HTMLElement> }} */ (el);
    const id = state.queue.ids[index];
    const r = state.queue.rows.get(id);
    if (!r) return;
    const p = row.parts;
    row.dataset.id = id;
    setText(p.pos, String(index + 1));
    setText(p.id, shortId(id));
    p.id.title = id;
    setText(p.owner, `${owner(r.tenant, r.clientId)} · ${r.workflow || 'prompt'}${r.tier && r.tier !== 'normal' ? ` · ${r.tier}` : ''}${r.attempts > 0 ? ` · retry ${r.attempts}` : ''}`);
    setText(p.wait, duration((serverNow() - r.createdAt) / 1000));
    const eta = etas()[index];
    const since = sinceUpdate();
    setText(p.eta, eta ? `${duration(eta.startsIn - since)} · ${duration(eta.finishesIn - since)}` : '—');
    p.cancel.dataset.job = id;
    /** @type {HTMLButtonElement} */ (p.cancel).disabled = pending.has(`cancel-job:${id}`);
  },
});

const problemList = new VirtualList($('problem-list'), {
  rowHeight: 46,
  onScroll: () => redraw(['problems']),
  create: () =>
    rowOf(
      'problem-row',
      `<div><span class="muted" data-part="time"></span> <span class="badge" data-part="kind"></span> <span class="ellipsis" data-part="message"></span></div>
       <div class="muted small ellipsis" data-part="where"></div>`,
    ),
  update(el, index) {
    const row = /** @type {HTMLElement & { parts: Record<string, HTMLElement> }} */ (el);
    // Newest first.
    const x = state.problems[state.problems.length - 1 - index];
    if (!x) return;
    const p = row.parts;
    row.dataset.kind = x.kind;
    setText(p.time, clock(x.at));
    setText(p.kind, { failed: 'failed', requeued: 'moved', 'backend-down': 'backend down' }[x.kind]);
    const cause = [x.nodeType, x.exceptionType].filter(Boolean).join(': ');
    setText(p.message, cause ? `${cause} — ${x.message}` : x.message);
    p.message.title = x.message;
    const where = [x.jobId ? `job ${shortId(x.jobId)}` : '', x.clientId !== undefined ? owner(x.tenant ?? '', x.clientId) : '', x.workflow ?? '', x.backend ?? ''].filter(Boolean).join(' · ');
    setText(p.where, where);
  },
});

// ── actions ─────────────────────────────────────────────────────────────────────────────────

let toastTimer = 0;
function toast(/** @type {string} */ text, error = false) {
  const el = $('toast');
  setText(el, text);
  el.dataset.kind = error ? 'error' : 'ok';
  el.classList.add('shown');
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => el.classList.remove('shown'), 5000);
}

/**
 * Send one operator action; the feed shows its effect.
 * @param {string} key  what is under way ("action:id"), so its button waits
 * @param {string} method
 * @param {string} path  relative to the page
 * @param {string} what  for the message
 * @param {unknown} [body]
 */
async function act(key, method, path, what, body) {
  if (pending.has(key)) return;
  pending.add(key);
  redraw(['backends', 'queue']);
  try {
    const t = token();
    /** @type {Record<string, string>} */
    const headers = {};
    if (t) headers.Authorization = `Bearer ${t}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
    const answer = await res.json().catch(() => ({}));
    if (res.ok) toast(`${what}: ${answer.detail ?? 'done'}`);
    else toast(`${what} failed: ${answer.detail ?? `HTTP ${res.status}`}`, true);
  } catch (err) {
    toast(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, true);
  } finally {
    pending.delete(key);
    redraw(['backends', 'queue']);
  }
}

/** @param {Event} e */
function onListClick(e) {
  const button = /** @type {HTMLElement | null} */ (e.target instanceof Element ? e.target.closest('button[data-action]') : null);
  if (!button) return;
  const row = /** @type {HTMLElement | null} */ (button.closest('.vrow'));
  const id = row?.dataset.id;
  if (!id) return;
  const action = button.dataset.action;
  const b = state.backendById.get(id);
  if (action === 'cancel-job') {
    const job = button.dataset.job;
    if (job) void act(`cancel-job:${job}`, 'POST', `admin/jobs/${encodeURIComponent(job)}/cancel`, `cancel ${shortId(job)}`);
  } else if (b && action === 'toggle-drain') {
    const verb = b.state === 'draining' || b.draining ? 'resume' : 'drain';
    void act(`toggle-drain:${id}`, 'POST', `admin/backends/${encodeURIComponent(id)}/${verb}`, `${verb} ${b.url}`);
  } else if (b && action === 'free') {
    void act(`free:${id}`, 'POST', `admin/backends/${encodeURIComponent(id)}/free`, `free ${b.url}`);
  } else if (b && action === 'remove') {
    const until = confirming.get(id);
    if (!until || until < Date.now()) {
      confirming.set(id, Date.now() + 4000);
      setTimeout(() => redraw(['backends']), 4100);
      redraw(['backends']);
      return;
    }
    confirming.delete(id);
    void act(`remove:${id}`, 'DELETE', `admin/backends/${encodeURIComponent(id)}`, `remove ${b.url}`);
  }
}

for (const list of ['backend-list', 'queue-list']) $(list).addEventListener('click', onListClick);

$('free-all').addEventListener('click', () => void act('free-all:all', 'POST', 'free', 'free memory on every backend'));

$('add-backend').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.currentTarget);
  const data = new FormData(form);
  const url = String(data.get('url') ?? '').trim();
  const labels = String(data.get('labels') ?? '')
    .split(',')
    .map((l) => l.trim())
    .filter(Boolean);
  if (!url) return;
  void act(`add:${url}`, 'POST', 'admin/backends', `add ${url}`, { url, ...(labels.length && { labels }) }).then(() => form.reset());
});

const tokenInput = /** @type {HTMLInputElement} */ ($('token'));
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken(tokenInput.value.trim());
  tokenInput.value = '';
  tokenInput.placeholder = token() ? 'token saved for this tab' : 'ADMIN_TOKEN';
  void connect();
});
$('forget-token').addEventListener('click', () => {
  setToken('');
  tokenInput.placeholder = 'ADMIN_TOKEN';
  void connect();
});
if (token()) tokenInput.placeholder = 'token saved for this tab';
void connect();

// Ages, running times and estimates move with the clock.
setInterval(() => redraw(['clock']), 1000);
