// startup-build: what running compiled JavaScript saves. `node dist/main.js` (npm start) against
// `tsx src/main.ts` (what npm start ran before), and `node --import tsx src/main.ts` to tell the tsx
// wrapper process apart from compiling on the fly: start-up time and idle memory.
//   npx tsx bench/startup-build.ts            print only
//   npm run bench -- startup-build            print and record in BENCHMARKS.md
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ComfySimulator } from '../src/sim/index.js';
import type { Benchmark, BenchOptions, BenchResult } from './lib.js';
import { ROOT, benchDir, fmt, freePort, median, mib, now, ratioText, sleep } from './lib.js';

const IDLE_MS = 5000;

interface Variant {
  key: 'compiled' | 'tsx' | 'import';
  label: string;
  args: string[];
}

const VARIANTS: Variant[] = [
  { key: 'compiled', label: '`node dist/main.js`', args: ['dist/main.js'] },
  { key: 'tsx', label: '`tsx src/main.ts`', args: [path.join('node_modules', 'tsx', 'dist', 'cli.mjs'), 'src/main.ts'] },
  { key: 'import', label: '`node --import tsx src/main.ts`', args: ['--import', 'tsx', 'src/main.ts'] },
];

/** Every process whose parent chain leads to `pid`, and `pid` itself. */
async function processTree(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** Resident memory of a process and its descendants, in bytes. */
async function treeRss(pid: number): Promise<{ bytes: number; processes: number }> {
  let bytes = 0;
  const tree = await processTree(pid);
  for (const p of tree) {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    bytes += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  }
  return { bytes, processes: tree.length };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
  // The tsx wrapper's child should have gone with it; make sure nothing is left idling.
  killGroup(child, 'SIGKILL');
}

/** Bridges still running: killed when this process exits, whatever happened (a time limit, say). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

/** Signal the bridge and anything it started (each bridge leads its own process group). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

interface Started {
  child: ChildProcess;
  readyMs: number;
  /** When it began to listen (now() clock). */
  readyAt: number;
}

/** One start: milliseconds from spawn until the port accepts a connection. */
async function start(variant: Variant, env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  let errText = '';
  const started = now();
  const child = spawn(process.execPath, variant.args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.stderr!.on('data', (d: Buffer) => {
    if (errText.length < 20_000) errText += d.toString();
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${variant.label} exited with ${child.exitCode}: ${errText}`);
      if (now() - started > 60_000) throw new Error(`${variant.label} did not listen within 60 s: ${errText}`);
      if (await accepts(port)) break;
      await sleep(2);
    }
  } catch (err) {
    await stop(child);
    throw err;
  }
  const readyAt = now();
  return { child, readyMs: readyAt - started, readyAt };
}

export const startupBuild: Benchmark = {
  name: 'startup-build',
  title: 'Compiled start versus running the TypeScript sources',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const rounds = opts.quick ? 2 : 5;
    opts.log('npm run build');
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    const sims = await Promise.all([1, 2].map((i) => ComfySimulator.start({ name: `startup-${i}` })));
    const dir = await benchDir(sims.map((s) => s.url));
    const figures = Object.fromEntries(VARIANTS.map((v) => [v.key, { ready: [] as number[], rss: [] as number[], processes: 0 }])) as Record<Variant['key'], { ready: number[]; rss: number[]; processes: number }>;
    try {
      // One unmeasured start of each, so all find warm caches (tsx's, the page cache).
      for (const v of VARIANTS) await stop((await start(v, dir.env)).child);
      for (let r = 0; r < rounds; r++) {
        // Started one after the other (rotating who goes first), then all idle together: an idle
        // bridge costs the next start next to nothing, and the run fits the benchmark time limit.
        const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]);
        const running: { v: Variant; s: Started }[] = [];
        try {
          for (const v of order) running.push({ v, s: await start(v, dir.env) });
          for (const { v, s } of running) {
            await sleep(Math.max(0, s.readyAt + IDLE_MS - now()));
            const m = await treeRss(s.child.pid!);
            figures[v.key].ready.push(s.readyMs);
            figures[v.key].rss.push(m.bytes);
            figures[v.key].processes = m.processes;
            opts.log(`round ${r + 1}, ${v.label}: listening after ${fmt(s.readyMs, 0)} ms, ${mib(m.bytes)} idle in ${m.processes} process(es)`);
          }
        } finally {
          await Promise.all(running.map(({ s }) => stop(s.child)));
        }
      }
    } finally {
      await dir.dispose();
      await Promise.all(sims.map((s) => s.close()));
    }
    const ready = (k: Variant['key']) => median(figures[k].ready);
    const rss = (k: Variant['key']) => median(figures[k].rss);
    const runs = (k: Variant['key']) => `${figures[k].ready.map((t) => fmt(t, 0)).join(', ')} ms; ${figures[k].rss.map((b) => fmt(b / 1024 / 1024, 0)).join(', ')} MB`;
    return {
      rows: [
        { metric: 'start-up to accepting connections, `node dist/main.js`', target: '(information)', measured: `${fmt(ready('compiled'), 0)} ms`, baseline: `${fmt(ready('tsx'), 0)} ms with \`tsx src/main.ts\``, ratio: ratioText(ready('compiled'), ready('tsx')) },
        { metric: 'start-up to accepting connections, `node --import tsx src/main.ts`', target: '(comparison)', measured: `${fmt(ready('import'), 0)} ms`, baseline: `${fmt(ready('tsx'), 0)} ms with \`tsx src/main.ts\``, ratio: ratioText(ready('import'), ready('tsx')) },
        { metric: `idle RSS after ${IDLE_MS / 1000} s, \`node dist/main.js\``, target: '(information)', measured: mib(rss('compiled')), baseline: `${mib(rss('tsx'))} with \`tsx src/main.ts\` (${figures.tsx.processes} processes)`, ratio: ratioText(rss('compiled'), rss('tsx')) },
        { metric: `idle RSS after ${IDLE_MS / 1000} s, \`node --import tsx src/main.ts\``, target: '(comparison)', measured: mib(rss('import')), baseline: `${mib(rss('tsx'))} with \`tsx src/main.ts\``, ratio: ratioText(rss('import'), rss('tsx')) },
      ],
      note:
        `Each start spawns the command with cwd the repository root and the same settings (two simulated ComfyUI servers in the benchmark's process, ` +
        `LOG_LEVEL error, an empty store in a temp folder); start-up is the wall time from spawn until the bridge's port accepts a TCP connection ` +
        `(polled every 2 ms); RSS is VmRSS summed over the process and its children (the tsx command runs the bridge in a second Node process) ` +
        `after ${IDLE_MS / 1000} s idle with both backends connected. dist/ is compiled (\`npm run build\`) before the runs. One unmeasured start of each, ` +
        `then ${rounds} rounds; in each the three start one after the other (rotating which goes first) and then idle side by side; medians. Runs: compiled ${runs('compiled')}; tsx ${runs('tsx')}; --import tsx ${runs('import')}.`,
    };
  },
};

// Run on its own: print the figures.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  const result = await startupBuild.run({ quick, log: (m) => process.stdout.write(`  ${m}\n`) });
  for (const row of result.rows) process.stdout.write(`${row.metric}: ${row.measured} | baseline ${row.baseline} | ratio ${row.ratio}\n`);
  process.stdout.write(`${result.note}\n`);
  process.exit(0);
}
