// accept: submissions accepted per second (each on disk before its 200) while 10, 1,000 or
// 10,000 jobs already wait. No backend answers (COMFYUI_SERVERS names a closed port), so every
// job stays queued; the store is prefilled in its own file format.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Benchmark, BenchOptions, BenchResult, ChildBridge, Http } from './lib.js';
import { benchDir, childBridge, cpuSecondsOf, fmt, freePort, httpClient, makeJobs, median, now, pool, ratioText, writeStore } from './lib.js';

const SIZES = [10, 1_000, 10_000];
const CONCURRENCY = 64;

function body(i: number): Record<string, unknown> {
  return { workflow: 'txt2img', '3/seed': 1000 + i, '6/text': `a watercolor painting of lighthouse number ${i} at dawn, soft light` };
}

/** Ids of the jobs in a data folder: the snapshot, then the journal replayed over it. */
async function storedIds(dataDir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  const snapshot = JSON.parse(await readFile(path.join(dataDir, 'jobs.json'), 'utf8')) as { jobs: { id: string }[] };
  for (const j of snapshot.jobs) ids.add(j.id);
  const journal = await readFile(path.join(dataDir, 'jobs.journal'), 'utf8').catch(() => '');
  for (const line of journal.split('\n')) {
    if (!line) continue;
    const entry = JSON.parse(line) as { put?: { id: string }; del?: string };
    if (entry.put) ids.add(entry.put.id);
    else if (entry.del) ids.delete(entry.del);
  }
  return ids;
}

interface Subject {
  waiting: number;
  bridge: ChildBridge;
  dataDir: string;
  rates: number[];
  cpu: number[];
  accepted: number;
}

export const accept: Benchmark = {
  name: 'accept',
  title: 'Durable accepts per second with jobs already waiting',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const bursts = opts.quick ? 2 : 6;
    const burst = opts.quick ? 250 : 400;
    const warmup = 300;
    const closedPort = await freePort();
    const prefill = await makeJobs(Math.max(...SIZES), 'txt2img', body);
    const dirs = await Promise.all(SIZES.map(() => benchDir([`127.0.0.1:${closedPort}`])));
    const subjects: Subject[] = [];
    const http: Http = httpClient(CONCURRENCY * 2);
    let seq = 0;
    try {
      for (const [k, waiting] of SIZES.entries()) {
        await writeStore(dirs[k].env.DATA_DIR, prefill.slice(0, waiting));
        const bridge = await childBridge(dirs[k].env, { profileDir: opts.profileDir && path.join(opts.profileDir, `accept-${waiting}`) });
        subjects.push({ waiting, bridge, dataDir: dirs[k].env.DATA_DIR, rates: [], cpu: [], accepted: 0 });
      }
      /** `count` accepts from CONCURRENCY clients, one clientId per client; then those jobs are cancelled so the queue is back to its size. */
      const submit = async (s: Subject, count: number): Promise<number> => {
        const round = seq++;
        const t0 = now();
        await pool(count, CONCURRENCY, async (i, w) => {
          const res = await http.postJson(`${s.bridge.url}/generate-based-workflow?clientId=bench-accept-${round}-${w}`, body(i));
          if (res.status !== 200) throw new Error(`accept answered ${res.status}: ${JSON.stringify(res.body)}`);
        });
        const seconds = (now() - t0) / 1000;
        s.accepted += count;
        await pool(CONCURRENCY, 16, async (w) => {
          const res = await http.postJson(`${s.bridge.url}/interrupt?clientId=bench-accept-${round}-${w}`, {});
          if (res.status !== 200) throw new Error(`interrupt answered ${res.status}`);
        });
        return count / seconds;
      };
      for (const s of subjects) await submit(s, warmup);
      // Short bursts, interleaved and rotated, so a busy moment of the machine hits every size alike.
      for (let b = 0; b < bursts; b++) {
        for (let k = 0; k < subjects.length; k++) {
          const s = subjects[(k + b) % subjects.length];
          const cpu0 = await cpuSecondsOf(s.bridge.pid);
          const rate = await submit(s, burst);
          s.rates.push(rate);
          s.cpu.push((((await cpuSecondsOf(s.bridge.pid)) - cpu0) * 1000) / burst);
        }
        opts.log(`burst ${b + 1}: ${subjects.map((s) => `${s.waiting} waiting ${fmt(s.rates[b], 0)}/s`).join(', ')}`);
      }
    } finally {
      await http.close();
      await Promise.all(subjects.map((s) => s.bridge.stop()));
    }
    // Every accepted job must be in the files the bridge left.
    let missing = 0;
    for (const s of subjects) {
      const ids = await storedIds(s.dataDir);
      missing += Math.max(0, s.waiting + s.accepted - ids.size);
    }
    await Promise.all(dirs.map((d) => d.dispose()));
    const m = new Map(subjects.map((s) => [s.waiting, median(s.rates)]));
    const base = m.get(10)!;
    const rows = SIZES.map((n) => ({
      metric: `accepts/s with ${n.toLocaleString('en-US')} waiting`,
      target: n === 10_000 ? '≥ 1,000/s and ≥ 60% of the 10 figure' : '≥ 1,000/s',
      measured: `${fmt(m.get(n)!, 0)}/s`,
      baseline: n === 10 ? '(this is the baseline)' : `${fmt(base, 0)}/s with 10 waiting`,
      ratio: n === 10 ? '1.00×' : ratioText(m.get(n)!, base),
      met: m.get(n)! >= 1000 && (n !== 10_000 || m.get(n)! >= 0.6 * base),
    }));
    const cpu = subjects.map((s) => `${fmt(median(s.cpu), 2)} ms at ${s.waiting.toLocaleString('en-US')}`).join(', ');
    return {
      rows,
      note:
        `Three bridges in child processes, started on store files prefilled with 10, 1,000 and 10,000 queued txt2img jobs ` +
        `(built with the bridge's own checkSubmission/patchWorkflow, written in the snapshot format) and a COMFYUI_SERVERS port nobody listens on. ` +
        `After ${warmup} warm-up submissions each, ${bursts} bursts of ${burst} POST /generate-based-workflow from ${CONCURRENCY} concurrent clients ` +
        `(a seed and a prompt text each), interleaved across the three with the order rotated; after each burst its jobs are cancelled ` +
        `(POST /interrupt) so the queue is back to its size. Medians over bursts. When the bridges had stopped, their files were read back ` +
        `(snapshot plus journal): ${missing === 0 ? 'every accepted job was there' : `${missing} accepted jobs were missing`}. ` +
        `Bridge CPU per accept (median): ${cpu}. Bursts: ` +
        subjects.map((s) => `${s.waiting.toLocaleString('en-US')}: ${s.rates.map((r) => fmt(r, 0)).join(', ')}`).join('; ') +
        '.',
    };
  },
};
