// fan-out: many clients on websockets, each with a running job whose backend sends 20 progress
// events per second; the bridge relays them as {"status":"progress"} messages.
//
// One simulator per job (a ComfyUI runs one prompt at a time), BACKEND_PREFETCH 0 so each runs
// exactly one. The simulators and the clients live in this process, so a progress event's send
// time (taken in the simulator's websocket hub) and its arrival at the client share one clock.
// A few extra simulators run the same job for clients connected to them directly: the latency of
// the same event path without the bridge, under the same load.
import type { Benchmark, BenchOptions, BenchResult, Row } from './lib.js';
import { benchDir, childBridge, cpuSecondsOf, fmt, httpClient, JsonSocket, memoryOf, mib, median, now, percentile, pool, ratioText, sleep, workflowGraph } from './lib.js';
import { ComfySimulator } from '../src/sim/index.js';
import { WsHub } from '../src/sim/ws-hub.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';

const STEP_MS = 45;
/** Sampler steps: long enough that every job still runs when the last window closes. */
const STEPS = 1200;
/** txt2img: 4 nodes run before the sampler, 2 after; each counts one unit, the sampler its steps. */
const UNITS_BEFORE = 4;
const CONTROL = 10;

interface HubInternals {
  stalled: boolean;
  targets(sid: string | null): unknown[];
  write(ws: unknown, data: string): void;
}

interface Scale {
  clients: number;
  windows: number;
  windowMs: number;
}

interface Tally {
  relayed: number;
  latencies: number[];
  direct: number[];
}

/** "12.34%" as the bridge formats it → the sampler step it reports, for a txt2img job of `steps` steps (at most 9,000, so each step has its own text). */
export function detailToStep(steps = STEPS): Map<string, number> {
  const m = new Map<string, number>();
  const total = steps + 6;
  for (let v = 1; v <= steps; v++) {
    const f = Math.min((UNITS_BEFORE + v) / total, 0.99);
    m.set(`${(f * 100).toFixed(2)}%`, v);
  }
  return m;
}

/**
 * Record when the simulators of this process send each `progress` step (their websocket hub,
 * wrapped at run time): `sent` maps a prompt_id to its steps' send times. The wrapper also encodes
 * frames with JSON.stringify instead of the simulator's Python-compatible encoder (the same frames
 * but for whitespace), which had taken a fifth of this process. `restore` puts the hub back.
 */
export function recordProgressSends(steps: number, onProgress: () => void = () => undefined): { sent: Map<string, Float64Array>; restore(): void } {
  const sent = new Map<string, Float64Array>();
  const original = WsHub.prototype.send;
  WsHub.prototype.send = function (this: WsHub, type: string, data: unknown, sid: string | null) {
    if (type === 'progress') {
      const d = data as { prompt_id: string; value: number };
      let times = sent.get(d.prompt_id);
      if (!times) sent.set(d.prompt_id, (times = new Float64Array(steps + 1)));
      times[d.value] = now();
      onProgress();
    }
    const hub = this as unknown as HubInternals;
    if (hub.stalled) return;
    const text = JSON.stringify({ type, data });
    for (const ws of hub.targets(sid)) hub.write(ws, text);
  };
  return { sent, restore: () => void (WsHub.prototype.send = original) };
}

async function measure(scale: Scale, opts: BenchOptions): Promise<{
  relayedPerSec: number[];
  offeredPerSec: number[];
  p99: number[];
  p50: number[];
  directP99: number[];
  directP50: number[];
  rssBefore: number;
  rssWindows: number;
  rssPeak: number;
  stillRunning: number;
  cpuShare: number[];
  benchCpuShare: number[];
  submitMs: number;
  missed: number;
}> {
  const { clients } = scale;
  let recording = false;
  let offered = 0;
  const { sent, restore } = recordProgressSends(STEPS, () => {
    if (recording) offered++;
  });

  const sims: ComfySimulator[] = [];
  const control: ComfySimulator[] = [];
  let bridge: Awaited<ReturnType<typeof childBridge>> | undefined;
  const sockets: JsonSocket[] = [];
  const http = httpClient(64);
  let dir: Awaited<ReturnType<typeof benchDir>> | undefined;
  try {
    for (let i = 0; i < clients; i += 100) {
      sims.push(...(await Promise.all(Array.from({ length: Math.min(100, clients - i) }, (_, k) => ComfySimulator.start({ name: `fan${i + k}`, stepMs: STEP_MS, nodeMs: 0, previews: false })))));
    }
    control.push(...(await Promise.all(Array.from({ length: CONTROL }, (_, k) => ComfySimulator.start({ name: `control${k}`, stepMs: STEP_MS, nodeMs: 0, previews: false })))));
    // Backends are healthy once probed (GET /prompt answered) and their event socket registered.
    const probed = new Set<ComfySimulator>();
    for (const sim of sims) sim.on('request', (r: { method?: string; path?: string }) => r.method === 'GET' && r.path === '/prompt' && probed.add(sim));
    dir = await benchDir(
      sims.map((s) => s.url),
      { BACKEND_PREFETCH: '0', HEALTH_INTERVAL: '10' },
    );
    bridge = await childBridge(dir.env, {
      profileDir: opts.profileDir && `${opts.profileDir}/fan-out-${clients}`,
      nodeArgs: process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [],
    });
    const t0 = now();
    while (sims.some((s) => !probed.has(s) || s.stats.wsConnections === 0) && now() - t0 < 60_000) await sleep(20);
    await sleep(200);
    const rssBefore = (await memoryOf(bridge.pid)).rss;
    opts.log(`${clients} backends up after ${fmt((now() - t0) / 1000, 1)} s; bridge RSS ${mib(rssBefore)}`);

    // Clients: a socket each, then a long txt2img job each (seed = client index, to find its prompt).
    const lookup = detailToStep();
    const promptOf: (string | undefined)[] = new Array(clients);
    const tally: Tally = { relayed: 0, latencies: [], direct: [] };
    let missed = 0;
    const tSubmit = now();
    await pool(clients, 64, async (i) => {
      const s = await JsonSocket.open(`${bridge!.wsUrl}/ws?clientId=bench-fan-${i}`, (m) => m.status === 'connected');
      s.onMessage = (msg, at) => {
        if (!recording || msg.status !== 'progress') return;
        tally.relayed++;
        const id = promptOf[i];
        const step = lookup.get(msg.detail);
        const times = id === undefined ? undefined : sent.get(id);
        if (step === undefined || !times || times[step] === 0) {
          missed++;
          return;
        }
        tally.latencies.push(at - times[step]);
      };
      sockets[i] = s;
      const res = await http.postJson(`${bridge!.url}/generate-based-workflow?clientId=bench-fan-${i}`, { workflow: 'txt2img', '3/steps': STEPS, '3/seed': i });
      if (res.status !== 200) throw new Error(`accept answered ${res.status}: ${JSON.stringify(res.body)}`);
    });
    const submitMs = now() - tSubmit;
    // Control: the same job, a client talking to its simulator directly.
    const graph = (await workflowGraph('txt2img')) as ComfyPrompt;
    graph['3'].inputs.steps = STEPS;
    for (const sim of control) {
      const clientId = crypto.randomUUID().replace(/-/g, '');
      const s = await JsonSocket.open(`${sim.url.replace(/^http/, 'ws')}/ws?clientId=${clientId}`, (m) => m.type === 'status' && m.data?.sid === clientId);
      s.onMessage = (msg, at) => {
        if (!recording || msg.type !== 'progress') return;
        const times = sent.get(msg.data.prompt_id);
        if (times && times[msg.data.value] > 0) tally.direct.push(at - times[msg.data.value]);
      };
      sockets.push(s);
      const res = await http.postJson(`${sim.url}/prompt`, { prompt: graph, client_id: clientId });
      if (res.status !== 200) throw new Error(`control POST /prompt answered ${res.status}`);
    }
    // Everything runs once every simulator runs its prompt.
    const t1 = now();
    while ([...sims, ...control].some((s) => s.runningPromptId === null) && now() - t1 < 60_000) await sleep(20);
    const notRunning = [...sims, ...control].filter((s) => s.runningPromptId === null).length;
    for (const sim of sims) {
      const received = sim.receivedPrompts()[0];
      if (received) promptOf[Number(received.prompt['3'].inputs.seed)] = received.promptId;
    }
    opts.log(`${clients} jobs submitted in ${fmt(submitMs / 1000, 1)} s, all running after ${fmt((now() - tSubmit) / 1000, 1)} s${notRunning ? ` (${notRunning} not running)` : ''}`);
    await sleep(1000);

    const relayedPerSec: number[] = [];
    const offeredPerSec: number[] = [];
    const p99: number[] = [];
    const p50: number[] = [];
    const directP99: number[] = [];
    const directP50: number[] = [];
    let stillRunning = clients;
    const cpuShare: number[] = [];
    const benchCpuShare: number[] = [];
    let rssPeak = 0;
    for (let w = 0; w < scale.windows; w++) {
      tally.relayed = 0;
      tally.latencies = [];
      tally.direct = [];
      offered = 0;
      const cpu0 = await cpuSecondsOf(bridge.pid);
      const self0 = process.cpuUsage();
      const start = now();
      recording = true;
      while (now() - start < scale.windowMs) {
        await sleep(100);
        rssPeak = Math.max(rssPeak, (await memoryOf(bridge.pid)).rss);
      }
      recording = false;
      const seconds = (now() - start) / 1000;
      const self = process.cpuUsage(self0);
      cpuShare.push(((await cpuSecondsOf(bridge.pid)) - cpu0) / seconds);
      benchCpuShare.push((self.user + self.system) / 1e6 / seconds);
      relayedPerSec.push(tally.relayed / seconds);
      // Events the simulators sent to the bridge (the control ones excluded).
      offeredPerSec.push((offered * (clients / (clients + CONTROL))) / seconds);
      p99.push(percentile(tally.latencies, 99));
      p50.push(percentile(tally.latencies, 50));
      directP99.push(percentile(tally.direct, 99));
      directP50.push(percentile(tally.direct, 50));
      stillRunning = Math.min(stillRunning, sims.filter((sim) => sim.runningPromptId !== null).length);
      opts.log(
        `${clients} clients, window ${w + 1}: relayed ${fmt(relayedPerSec[w], 0)}/s of ${fmt(offeredPerSec[w], 0)}/s sent, ` +
          `latency p50 ${fmt(p50[w], 1)} p99 ${fmt(p99[w], 1)} ms (direct p99 ${fmt(directP99[w], 1)} ms), ` +
          `bridge CPU ${fmt(cpuShare[w] * 100, 0)}%, benchmark process CPU ${fmt(benchCpuShare[w] * 100, 0)}%`,
      );
    }
    const hwm = (await memoryOf(bridge.pid)).hwm;
    return { relayedPerSec, offeredPerSec, p99, p50, directP99, directP50, rssBefore, rssWindows: rssPeak, rssPeak: Math.max(rssPeak, hwm), cpuShare, benchCpuShare, submitMs, missed, stillRunning };
  } finally {
    recording = false;
    await bridge?.stop();
    for (const s of sockets) s?.close();
    await http.close();
    await Promise.all([...sims, ...control].map((s) => s.close()));
    restore();
    await dir?.dispose();
  }
}

export const fanOut: Benchmark = {
  name: 'fan-out',
  title: 'Relaying backend progress to many client websockets',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const clients = Number(process.env.BENCH_FANOUT_CLIENTS ?? 1000);
    const scale: Scale = { clients, windows: opts.quick ? 1 : 5, windowMs: 3000 };
    const r = await measure(scale, opts);
    const relayed = median(r.relayedPerSec);
    const offered = median(r.offeredPerSec);
    const p99 = median(r.p99);
    const direct = median(r.directP99);
    const usPerMessage = median(r.cpuShare.map((c, i) => (c * 1e6) / r.relayedPerSec[i]));
    const rows: Row[] = [
      {
        metric: `relayed progress messages/s, ${clients.toLocaleString('en-US')} clients`,
        target: '≥ 20,000/s',
        measured: `${fmt(relayed, 0)}/s`,
        baseline: `${fmt(offered, 0)}/s sent by the backends`,
        ratio: ratioText(relayed, offered),
        met: relayed >= 20_000,
      },
      {
        metric: 'backend→client latency p99',
        target: '≤ 50 ms',
        measured: `${fmt(p99, 1)} ms (p50 ${fmt(median(r.p50), 1)} ms)`,
        baseline: `${fmt(direct, 1)} ms (p50 ${fmt(median(r.directP50), 1)} ms) for ${CONTROL} clients on their own simulators`,
        ratio: ratioText(p99, direct),
        met: p99 <= 50,
      },
      {
        metric: 'bridge CPU per relayed message',
        target: '(information)',
        measured: `${fmt(usPerMessage, 0)} µs`,
        baseline: `one core would relay ${fmt(1e6 / usPerMessage, 0)}/s`,
        ratio: '',
      },
      {
        metric: 'bridge RSS, peak of the whole run (VmHWM)',
        target: '≤ 250 MB',
        measured: mib(r.rssPeak),
        baseline: `${mib(r.rssBefore)} with the backends connected, before any client`,
        ratio: ratioText(r.rssPeak, r.rssBefore),
        met: r.rssPeak <= 250 * 1024 * 1024,
      },
      {
        metric: 'bridge RSS, peak during the measured windows',
        target: '(≤ 250 MB)',
        measured: mib(r.rssWindows),
        baseline: `${mib(r.rssBefore)} before any client`,
        ratio: ratioText(r.rssWindows, r.rssBefore),
        met: r.rssWindows <= 250 * 1024 * 1024,
      },
    ];
    const missed = new Set(rows.filter((row) => row.met === false).map((row) => row.metric));
    const why: string[] = [];
    if (missed.has(rows[0].metric) || missed.has(rows[1].metric)) why.push(RELAY_ANALYSIS(offered, usPerMessage, r.directP99));
    if (missed.has(rows[3].metric) || missed.has(rows[4].metric)) why.push(MEMORY_ANALYSIS);
    why.push(DISPATCH_ANALYSIS(r.submitMs));
    return {
      rows,
      note:
        `${clients.toLocaleString('en-US')} simulators and ${clients.toLocaleString('en-US')} clients on /ws, each with one txt2img job of ${STEPS} steps; ` +
        `BACKEND_PREFETCH 0 so every simulator runs exactly one job, HEALTH_INTERVAL 10; previews off. Simulators use stepMs ${STEP_MS}, not 50: ` +
        `their step timers run late under this load, and ${STEP_MS} is what yields the intended ~20 progress events/s per job (the rate actually ` +
        `sent is the baseline of the first row). The bridge runs in a child process; simulators and clients share the benchmark process. ` +
        `Each step the simulator sends progress_state and progress; the bridge turns each progress into one {"status":"progress"} message ` +
        `(distinct percentages, so none is deduplicated). Latency: from the simulator's send of \`progress\` step k (its websocket hub, wrapped ` +
        `at run time in this process, which also swaps its Python-compatible JSON encoder for JSON.stringify: same frames but for whitespace, ` +
        `and it had taken a fifth of this process) to the arrival of the client message for step k; ${fmt(r.missed, 0)} messages could not be matched. ` +
        `The direct figures are the same event path without the bridge (${CONTROL} extra simulators with their own clients), under the same load. ` +
        `${scale.windows} windows of ${scale.windowMs / 1000} s once every job runs (${r.stillRunning} of ${clients} still running at the end); medians over windows. ` +
        `CPU during the windows: bridge ${r.cpuShare.map((c) => `${fmt(c * 100, 0)}%`).join(', ')} of one core; benchmark process ` +
        `${r.benchCpuShare.map((c) => `${fmt(c * 100, 0)}%`).join(', ')}: on 2 cores the harness and the bridge together nearly fill the machine, ` +
        `so the latency tails include the harness's own delays (see the direct figures).\n\n` +
        why.join('\n\n'),
    };
  },
};

const RELAY_ANALYSIS = (offered: number, usPerMessage: number, directP99: number[]) =>
  `**Why the relay figures miss.** The bridge relays what the backends send (ratio ≈ 1). In this run the simulators sent ${fmt(offered, 0)} ` +
  `events/s of the intended 20,000 (on a full machine their step timers run late${offered < 18_000 ? ', and other work on the machine took CPU too: see the load average' : ''}), ` +
  `and the bridge spent ${fmt(usPerMessage, 0)} µs of CPU per relayed message (two backend frames in, one client frame out): 20,000/s ` +
  `would keep one core ${fmt((usPerMessage * 20_000) / 1e4, 0)}% busy, so queueing shows in the tail, while the harness needs most of the other core; the direct clients' ` +
  `own p99 was ${directP99.map((x) => fmt(x, 0)).join(', ')} ms in the windows. GC is not what makes the tail: a probe in the bridge ` +
  'saw ~13 scavenges/s of 4–14 ms and one ~15 ms major collection every ~12 s. Since the restructuring (one engine, an event stream ' +
  'between it and the doors) each relayed message also passes through the event stream: earlier measurements on this machine put that ' +
  'at about +8 µs of CPU per message, which is why this figure is above the 42 µs of the run before (7739880). Profile of the bridge ' +
  'over the windows (commit 92be09d, before the event stream): socket writes to clients (writev, one per message per client socket) 23%, the backend ' +
  'frame handler (JSON.parse) 12%, GC 10%, ClientHub.onProgress → Bridge.status 10–13%, Execution.message 3%. No single item ' +
  'dominates: three run-time stand-ins on a child bridge changed its CPU by less than the noise (±5%): skipping JSON.parse of ' +
  'progress_state frames, arming the stall watchdog once instead of on every event, and answering a one-job client\'s progress without ' +
  'Bridge.status. **What would meet it:** more than one core for the relay: shard the client websockets over worker threads (each owns ' +
  'its clients\' sockets and gets the job\'s fraction by postMessage, batched per tick) so the per-client writes, the largest share, run ' +
  `in parallel; or run the harness on other machines so the bridge has a core to itself (one core at ${fmt(usPerMessage, 0)} µs/message ` +
  `is ~${fmt(1e6 / usPerMessage, 0)}/s, too close to 20,000/s for a 50 ms p99).`;

const MEMORY_ANALYSIS =
  '**Why RSS misses.** Measured components: a bridge with one backend under tsx is ~117 MB (an empty Node process is ~41 MB, an empty ' +
  'tsx one ~77 MB); 1,000 backends add ~85 MB (heap snapshot: ~43 KB of JS heap each, 16 KB of it the 2,048-slot FixedQueue that every ' +
  'undici Pool allocates, plus Client, parser, socket and ws objects); under 20,000 messages/s the V8 heap swings between ~75 and ~160 MB ' +
  'used (old space absorbs ~17 MB/s of promoted garbage between major GCs) and external buffers between ~10 and ~70 MB. ' +
  'The benchmark runs the bridge under tsx; `npm start` now runs the compiled build, which idles ~35 MB lower (see startup-build), ' +
  'so in production this peak would be ~35 MB lower and still over 250 MB. What would bring it under: in ComfyClient use one undici Client ' +
  '(keep-alive, pipelining 1) for the small control requests and open a Pool only while results are being streamed (−16 MB per 1,000 ' +
  'backends and fewer idle sockets); and promote less per relayed message, since that garbage is what fills old space between major ' +
  'collections (a lever, not a measured fix). ' +
  'A larger young generation (--max-semi-space-size=64) was tried: promotion dropped but RSS rose (390 MB).';

const DISPATCH_ANALYSIS = (ms: number) =>
  `**Dispatch cost with many backends.** Submitting the 1,000 jobs took ${fmt(ms / 1000, 1)} s (2.9 s in the run before the ` +
  'restructuring, 7739880, whose profile put Scheduler.pump → nextByCount at ~25% of the CPU because every dispatch scanned all ' +
  'executions per backend and looked each candidate up with loads.find, O(backends²)). The scheduler now counts the loads in one pass ' +
  'and looks them up in a Map, so a dispatch is O(backends + executions). Where a longer submission goes now (the ' +
  'accept path with 1,000 backends, or the machine\'s load: see the load average) was not profiled in this run.';
