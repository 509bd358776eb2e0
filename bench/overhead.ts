// overhead: one zero-duration job, submit → done → image in hand, through the bridge versus the
// same client talking to the simulator directly; at concurrency 1 (latency) and 64 (throughput).
import { randomUUID } from 'node:crypto';
import { ComfySimulator } from '../src/sim/index.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import type { Benchmark, BenchOptions, BenchResult, Http, Row } from './lib.js';
import { benchDir, childBridge, cpuSecondsOf, fmt, httpClient, JsonSocket, median, now, percentile, pool, ratioText, workflowGraph } from './lib.js';

const CONCURRENCY = 64;
/** BACKEND_PREFETCH of the comparison bridge. */
const DEEP = Number(process.env.BENCH_OVERHEAD_PREFETCH ?? 8);

interface Phases {
  ws: number;
  submit: number;
  done: number;
  collect: number;
}

/** A ComfyUI client: its own event socket, POST /prompt, wait for the end, /history, /view. */
export class DirectClient {
  private constructor(private readonly base: string, private readonly http: Http, private readonly socket: JsonSocket, private readonly clientId: string) {}

  static async open(base: string, http: Http): Promise<DirectClient> {
    const clientId = randomUUID().replace(/-/g, '');
    const socket = await JsonSocket.open(`${base.replace(/^http/, 'ws')}/ws?clientId=${clientId}`, (m) => m.type === 'status' && m.data?.sid === clientId);
    return new DirectClient(base, http, socket, clientId);
  }

  async job(prompt: ComfyPrompt): Promise<number> {
    const promptId = randomUUID();
    const done = this.socket.next((m) => m.type === 'executing' && m.data?.node === null && m.data?.prompt_id === promptId);
    const posted = await this.http.postJson(`${this.base}/prompt`, { prompt, client_id: this.clientId, prompt_id: promptId });
    if (posted.status !== 200) throw new Error(`direct POST /prompt answered ${posted.status}`);
    await done;
    const history = await this.http.getJson(`${this.base}/history/${promptId}`);
    const outputs = history.body[promptId]?.outputs ?? {};
    let bytes = 0;
    for (const out of Object.values<any>(outputs)) {
      for (const img of out.images ?? []) {
        const q = new URLSearchParams({ filename: img.filename, subfolder: img.subfolder, type: img.type });
        const res = await this.http.getBytes(`${this.base}/view?${q}`);
        if (res.status !== 200) throw new Error(`direct /view answered ${res.status}`);
        bytes += res.bytes;
      }
    }
    if (bytes === 0) throw new Error('direct job produced no image');
    return bytes;
  }

  close(): void {
    this.socket.close();
  }
}

/** A client of the curated door: /ws, POST /generate-based-workflow, wait for "closed", GET /history. */
export async function bridgeJob(url: string, wsUrl: string, http: Http, phases?: Phases): Promise<number> {
  const clientId = `bench-${randomUUID()}`;
  const t0 = now();
  const socket = await JsonSocket.open(`${wsUrl}/ws?clientId=${clientId}`, (m) => m.status === 'connected');
  const t1 = now();
  try {
    const done = socket.next((m) => m.status === 'closed' || m.status === 'error');
    const posted = await http.postJson(`${url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert' });
    if (posted.status !== 200) throw new Error(`bridge accept answered ${posted.status}: ${JSON.stringify(posted.body)}`);
    const t2 = now();
    const end = await done;
    if (end.status !== 'closed') throw new Error(`bridge job ended with ${end.detail}`);
    const t3 = now();
    const res = await http.getBytes(`${url}/history?clientId=${clientId}`);
    if (res.status !== 200 || res.bytes === 0) throw new Error(`bridge /history answered ${res.status}`);
    const t4 = now();
    if (phases) {
      phases.ws += t1 - t0;
      phases.submit += t2 - t1;
      phases.done += t3 - t2;
      phases.collect += t4 - t3;
    }
    return res.bytes;
  } finally {
    socket.close();
  }
}

export const overhead: Benchmark = {
  name: 'overhead',
  title: 'Overhead of the bridge on a zero-duration job',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const latencyRounds = opts.quick ? 60 : 300;
    const throughputJobs = opts.quick ? 320 : 384;
    const throughputRounds = opts.quick ? 2 : Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 6);
    const sim = await ComfySimulator.start({ name: 'overhead', stepMs: 0, nodeMs: 0 });
    const dir = await benchDir([sim.url]);
    const deepDir = await benchDir([sim.url], { BACKEND_PREFETCH: String(DEEP) });
    const bridge = await childBridge(dir.env, { profileDir: opts.profileDir && `${opts.profileDir}/overhead` });
    const deep = await childBridge(deepDir.env);
    const http = httpClient(CONCURRENCY * 2);
    const prompt = await workflowGraph('invert');
    let jobsRun = 0;
    try {
      // Warm every path (JIT, connections, the bridges' learned durations), one at a time and concurrently.
      const warm = await DirectClient.open(sim.url, http);
      const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => DirectClient.open(sim.url, http)));
      for (let i = 0; i < 30; i++) {
        await warm.job(prompt);
        await bridgeJob(bridge.url, bridge.wsUrl, http);
        await bridgeJob(deep.url, deep.wsUrl, http);
      }
      const warmJobs = opts.quick ? 128 : Number(process.env.BENCH_OVERHEAD_WARM ?? 640);
      await pool(warmJobs, CONCURRENCY, async (_i, w) => void (await clients[w].job(prompt)));
      await pool(warmJobs, CONCURRENCY, async () => void (await bridgeJob(bridge.url, bridge.wsUrl, http)));
      await pool(warmJobs, CONCURRENCY, async () => void (await bridgeJob(deep.url, deep.wsUrl, http)));
      jobsRun += 30 + warmJobs;

      // Concurrency 1: alternate direct and bridge jobs so both see the same machine state.
      const direct: number[] = [];
      const viaBridge: number[] = [];
      const phases: Phases = { ws: 0, submit: 0, done: 0, collect: 0 };
      for (let i = 0; i < latencyRounds; i++) {
        let t = now();
        await warm.job(prompt);
        direct.push(now() - t);
        t = now();
        await bridgeJob(bridge.url, bridge.wsUrl, http, phases);
        viaBridge.push(now() - t);
      }
      jobsRun += latencyRounds;
      warm.close();
      const d1 = median(direct);
      const b1 = median(viaBridge);
      opts.log(`c=1 direct p50 ${fmt(d1, 2)} ms p90 ${fmt(percentile(direct, 90), 2)}; bridge p50 ${fmt(b1, 2)} ms p90 ${fmt(percentile(viaBridge, 90), 2)}`);
      const per = (x: number) => fmt(x / latencyRounds, 2);

      // Concurrency 64: throughput, alternating direct, the bridge as configured, and the bridge with a deeper BACKEND_PREFETCH.
      const directRates: number[] = [];
      const bridgeRates: number[] = [];
      const deepRates: number[] = [];
      const bridgeCpuPerJob: number[] = [];
      const storeSizes: number[] = [];
      // This process's CPU share while it drives each path: near one core means the harness, not the bridge, sets the pace.
      const harnessShare = { direct: [] as number[], bridge: [] as number[] };
      const timed = async (run: (i: number, worker: number) => Promise<void>, share?: number[]) => {
        const t = now();
        const cpu = process.cpuUsage();
        await pool(throughputJobs, CONCURRENCY, run);
        const seconds = (now() - t) / 1000;
        const used = process.cpuUsage(cpu);
        share?.push((used.user + used.system) / 1e6 / seconds);
        return throughputJobs / seconds;
      };
      for (let r = 0; r < throughputRounds; r++) {
        directRates.push(await timed(async (_i, w) => void (await clients[w].job(prompt)), harnessShare.direct));
        const cpu0 = await cpuSecondsOf(bridge.pid);
        bridgeRates.push(await timed(async () => void (await bridgeJob(bridge.url, bridge.wsUrl, http)), harnessShare.bridge));
        bridgeCpuPerJob.push((((await cpuSecondsOf(bridge.pid)) - cpu0) * 1000) / throughputJobs);
        jobsRun += throughputJobs;
        storeSizes.push(jobsRun);
        deepRates.push(await timed(async () => void (await bridgeJob(deep.url, deep.wsUrl, http))));
        opts.log(
          `c=64 round ${r + 1}: direct ${fmt(directRates[r], 0)} jobs/s, bridge ${fmt(bridgeRates[r], 0)} jobs/s ` +
            `(CPU ${fmt(bridgeCpuPerJob[r], 2)} ms/job, ${jobsRun} jobs in its store), BACKEND_PREFETCH ${DEEP}: ${fmt(deepRates[r], 0)} jobs/s; ` +
            `this process ${fmt(harnessShare.direct[r] * 100, 0)}% / ${fmt(harnessShare.bridge[r] * 100, 0)}% of a core`,
        );
      }
      for (const c of clients) c.close();
      const d64 = median(directRates);
      const b64 = median(bridgeRates);
      const p64 = median(deepRates);
      const added = b1 - d1;
      const share = b64 / d64;
      const rows: Row[] = [
        {
          metric: 'added latency, 1 job at a time (median)',
          target: '≤ 3 ms',
          measured: `${fmt(added, 2)} ms (bridge ${fmt(b1, 2)} ms)`,
          baseline: `direct ${fmt(d1, 2)} ms`,
          ratio: ratioText(b1, d1),
          met: added <= 3,
        },
        {
          metric: 'throughput at concurrency 64',
          target: '≥ 70% of direct',
          measured: `${fmt(b64, 0)} jobs/s (${fmt(share * 100, 0)}%)`,
          baseline: `direct ${fmt(d64, 0)} jobs/s`,
          ratio: ratioText(b64, d64),
          met: share >= 0.7,
        },
        {
          metric: `throughput at concurrency 64, BACKEND_PREFETCH ${DEEP}`,
          target: '(comparison)',
          measured: `${fmt(p64, 0)} jobs/s (${fmt((p64 / d64) * 100, 0)}%)`,
          baseline: `direct ${fmt(d64, 0)} jobs/s`,
          ratio: ratioText(p64, d64),
        },
      ];
      return {
        rows,
        note:
          `One simulator (stepMs 0, nodeMs 0), workflow "invert" (one 512×512 PNG). The bridges run in child processes with their defaults ` +
          `(BACKEND_PREFETCH 1; a second one with ${DEEP}), job store on disk in a temp dir; the simulator and the clients share the benchmark process. ` +
          `Direct: a ComfyUI client with one long-lived socket: POST /prompt with client_id and prompt_id, wait for \`executing\` node null, ` +
          `GET /history/{id}, GET /view. Bridge: open /ws?clientId (a new one per job, since the bridge closes it after "closed"), ` +
          `POST /generate-based-workflow, wait for "closed", GET /history (multipart, read to the end). ` +
          `Latency: ${latencyRounds} alternating pairs, medians; bridge phases (mean ms): ws open ${per(phases.ws)}, accept ${per(phases.submit)}, ` +
          `accepted→"closed" ${per(phases.done)}, collect ${per(phases.collect)}. ` +
          `Throughput: ${throughputJobs} jobs on ${CONCURRENCY} concurrent clients, ${throughputRounds} rounds alternating the three, medians; ` +
          `rounds: direct ${directRates.map((x) => fmt(x, 0)).join(', ')}; bridge ${bridgeRates.map((x) => fmt(x, 0)).join(', ')} ` +
          `(CPU ${bridgeCpuPerJob.map((x) => fmt(x, 2)).join(', ')} ms/job with ${storeSizes.join(', ')} jobs in its store: collected jobs stay 10 minutes); ` +
          `BACKEND_PREFETCH ${DEEP} ${deepRates.map((x) => fmt(x, 0)).join(', ')} jobs/s.` +
          (rows[0].met && rows[1].met
            ? ''
            : `\n\n${analysis({
                direct1: d1,
                phases: { ws: phases.ws / latencyRounds, accept: phases.submit / latencyRounds, done: phases.done / latencyRounds, collect: phases.collect / latencyRounds },
                cpuPerJob: median(bridgeCpuPerJob),
                prefetchShare: p64 / d64,
                deep: DEEP,
                harnessDirect: median(harnessShare.direct),
                harnessBridge: median(harnessShare.bridge),
                harnessMsDirect: median(harnessShare.direct.map((x, i) => (x * 1000) / directRates[i])),
                harnessMsBridge: median(harnessShare.bridge.map((x, i) => (x * 1000) / bridgeRates[i])),
              }, { latency: !rows[0].met, throughput: !rows[1].met })}`),
      };
    } finally {
      await http.close();
      await Promise.all([bridge.stop(), deep.stop()]);
      await sim.close();
      await Promise.all([dir.dispose(), deepDir.dispose()]);
    }
  },
};

interface Evidence {
  direct1: number;
  phases: { ws: number; accept: number; done: number; collect: number };
  cpuPerJob: number;
  prefetchShare: number;
  deep: number;
  harnessDirect: number;
  harnessBridge: number;
  /** This process's CPU milliseconds per job on each path. */
  harnessMsDirect: number;
  harnessMsBridge: number;
}

/** Why a target is missed: this run's own figures, then what profiling the bridge showed. */
function analysis(e: Evidence, missed: { latency: boolean; throughput: boolean }): string {
  const parts: string[] = [];
  parts.push(
    `**Why ${missed.latency && missed.throughput ? 'both miss' : missed.latency ? 'the latency misses' : 'the throughput misses'}.** ` +
      'Per job, this run: opening a new websocket ' +
      `${fmt(e.phases.ws, 2)} ms (the bridge closes it after "closed"); the accept ${fmt(e.phases.accept, 2)} ms (koa and one journal ` +
      `append before the 200); accepted → "closed" ${fmt(e.phases.done, 2)} ms, which holds the bridge's own POST /prompt and, after the ` +
      `backend finishes, its GET /history/{id} to confirm before "closed"; collecting ${fmt(e.phases.collect, 2)} ms through a second hop ` +
      `(bridge → backend /view); against ${fmt(e.direct1, 2)} ms for the whole direct exchange. At concurrency 64 the benchmark's own process (simulator and ` +
      `clients, one thread) is the bottleneck: it ran at ${fmt(e.harnessDirect * 100, 0)}% of a core on the direct path and ` +
      `${fmt(e.harnessBridge * 100, 0)}% on the bridge path, and the bridge path costs it more per job (${fmt(e.harnessMsBridge, 2)} vs ` +
      `${fmt(e.harnessMsDirect, 2)} ms of CPU: a websocket handshake per job, the multipart body, the backend's extra POST /history), ` +
      `while the bridge process used ${fmt(e.cpuPerJob, 2)} ms per job, about ${fmt((e.cpuPerJob * e.harnessBridge) / e.harnessMsBridge * 100, 0)}% of the other core. ` +
      'So on this 2-core machine the figure measures the protocol\'s client-side cost as much as the bridge, and noise on a shared ' +
      'machine moves it by several points. ' +
      `A deeper queue on the backend does not help any more (BACKEND_PREFETCH ${e.deep}: ${fmt(e.prefetchShare * 100, 0)}% of direct). ` +
      'A CPU profile of the bridge at concurrency 64 (commit 8337db5) spreads its time thinly: socket writes ~10%, journal appends ~12% ' +
      '(each change writes the whole job, prompt graph included, as JSON), GC ~5%, the rest in koa, undici, ws and the hub; four requests go to the backend per ' +
      'job (POST /prompt, GET /history/{id}, GET /view, POST /history delete).',
  );
  if (missed.throughput) {
    parts.push(
      '**What would meet the throughput target:** fewer requests per job against the backend and the client: batch the POST /history ' +
        'deletes that forgetOnBackends sends after every collection (one request per backend per second instead of one per client), and ' +
        'skip the GET /history/{id} confirmation when the executed events already carried every output node (fall back to it otherwise); ' +
        'in the bridge, journal only the fields a transition changes instead of the whole job with its prompt graph. To measure the ' +
        'bridge\'s own ceiling rather than the harness\'s, the clients need more cores than this machine has (several client processes). ' +
        'Tried with run-time stand-ins on a child bridge and not worth it on the evidence (within ±5%): enqueueing before the accept\'s ' +
        'write, pumping before the final transition\'s write, and taking the generation count off the accept.',
    );
  }
  if (missed.latency) {
    parts.push(
      '**What would meet the latency target:** the confirmation off the critical path: send "closed" on execution_success when the ' +
        'event socket is healthy and run the /history check alongside (a later "error" if it disagrees), saving about one backend round ' +
        'trip; this trades the current confirm-before-announce rule for ~1 ms.',
    );
  }
  return parts.join('\n\n');
}

