// npm run bench [-- NAME ...] [--quick] [--profile DIR] [--no-write]
// Runs the benchmarks (all, or those named), prints their figures, and rewrites BENCHMARKS.md
// from bench/results.json (the last figures of every benchmark, so running one keeps the others).
//   --quick      fewer repetitions, nothing written
//   --profile D  CPU profiles of the child-process bridges under D (summarise with bench/profile.ts)
//   --no-write   print only
// Knobs for investigating (the defaults are what BENCHMARKS.md reports):
//   BENCH_FANOUT_CLIENTS (1000), BENCH_OVERHEAD_PREFETCH (8, the comparison bridge),
//   BENCH_OVERHEAD_WARM (640), BENCH_OVERHEAD_ROUNDS (6), BENCH_NODE_ARGS (extra node flags for the fan-out bridge).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Benchmark, BenchResult, Row } from './lib.js';
import { ROOT } from './lib.js';
import { overhead } from './overhead.js';
import { accept } from './accept.js';
import { fanOut } from './fan-out.js';
import { balance } from './balance.js';
import { bigOutputs } from './big-outputs.js';
import { startUp } from './start-up.js';
import { startupBuild } from './startup-build.js';
import { hostile } from './hostile.js';

const ALL: Benchmark[] = [overhead, accept, fanOut, balance, bigOutputs, startUp, startupBuild, hostile];
const RESULTS = path.join(ROOT, 'bench', 'results.json');
const REPORT = path.join(ROOT, 'BENCHMARKS.md');
/** A benchmark still running after this long is recorded as failed and the others run. */
const LIMIT_S = 180;

interface Stored extends BenchResult {
  title: string;
  date: string;
  seconds: number;
  /** One-minute load average of the machine before and after the benchmark. */
  load?: [number, number];
  /** The sources measured: commit, and whether src/ had local changes. */
  source?: string;
  error?: string;
}

/** Which sources were measured (read-only git queries). */
function sourceVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `${head}${dirty ? ' with local changes in src/' : ''}`;
  } catch {
    return 'unknown';
  }
}

function parseArgs(argv: string[]): { names: string[]; quick: boolean; profileDir?: string; write: boolean } {
  const names: string[] = [];
  let quick = false;
  let profileDir: string | undefined;
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--no-write') write = false;
    else if (a === '--profile') profileDir = path.resolve(argv[++i] ?? 'bench-profiles');
    else names.push(a);
  }
  return { names, quick, profileDir, write };
}

function stamp(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function render(results: Record<string, Stored>): string {
  const order = ALL.map((b) => b.name).filter((n) => results[n]);
  const lines: string[] = [];
  lines.push('# Benchmarks');
  lines.push('');
  lines.push(
    'Figures from `npm run bench` (all, under 5 minutes) or `npm run bench -- NAME` (one: ' +
      `${ALL.map((b) => b.name).join(', ')}). Every figure is measured side by side with its baseline in the same run, ` +
      'as a median over repeated runs; simulators and bridges run on loopback in temp dirs. ' +
      'Ratio is measured ÷ baseline. The machine is shared (other work may run during a benchmark: each section gives the load average). ' +
      'This file is rewritten from `bench/results.json` after each run; `npx tsx bench/profile.ts FILE.cpuprofile` summarises the profiles ' +
      'that `npm run bench -- NAME --profile DIR` writes for the child-process bridges.',
  );
  lines.push('');
  lines.push(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, ${os.platform()} ${os.release()}.`);
  lines.push('');
  lines.push('| benchmark | metric | target | measured | baseline | ratio | met | date |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const name of order) {
    const r = results[name];
    if (r.error) {
      lines.push(`| ${name} | (did not complete) | | ${cell(r.error)} | | | | ${r.date} |`);
      continue;
    }
    for (const row of r.rows) {
      const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
      lines.push(`| ${name} | ${cell(row.metric)} | ${cell(row.target)} | ${cell(row.measured)} | ${cell(row.baseline)} | ${cell(row.ratio)} | ${met} | ${r.date} |`);
    }
  }
  lines.push('');
  for (const name of order) {
    const r = results[name];
    lines.push(`## ${name}: ${r.title}`);
    lines.push('');
    const load = r.load ? `, load average ${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)} on ${os.cpus().length} cores` : '';
    const source = r.source ? `, sources ${r.source}` : '';
    lines.push(`Run ${r.date}, ${r.seconds.toFixed(0)} s${load}${source}. ${r.error ? `Failed: ${r.error}` : ''}`.trim());
    lines.push('');
    if (r.note) {
      lines.push(r.note.trim());
      lines.push('');
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { names, quick, profileDir, write } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((n) => !ALL.some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${ALL.map((b) => b.name).join(', ')}\n`);
    process.exit(2);
  }
  const selected = names.length ? ALL.filter((b) => names.includes(b.name)) : ALL;
  if (profileDir) await mkdir(profileDir, { recursive: true });
  let results: Record<string, Stored> = {};
  try {
    results = JSON.parse(await readFile(RESULTS, 'utf8')) as Record<string, Stored>;
  } catch {
    results = {};
  }
  const started = performance.now();
  for (const bench of selected) {
    const t0 = performance.now();
    const load0 = os.loadavg()[0];
    const source = sourceVersion();
    const log = (m: string) => process.stdout.write(`  [${bench.name}] ${m}\n`);
    process.stdout.write(`▶ ${bench.name}: ${bench.title}\n`);
    let stored: Stored;
    try {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish within ${LIMIT_S} s`)), LIMIT_S * 1000);
      });
      const result = await Promise.race([bench.run({ quick, profileDir, log }), limit]).finally(() => clearTimeout(timer));
      stored = { ...result, title: bench.title, date: stamp(new Date()), seconds: (performance.now() - t0) / 1000, load: [load0, os.loadavg()[0]], source };
      for (const row of result.rows) printRow(row);
    } catch (err) {
      const message = (err as Error).stack ?? String(err);
      process.stdout.write(`  [${bench.name}] did not complete: ${message}\n`);
      stored = { rows: [], note: '', title: bench.title, date: stamp(new Date()), seconds: (performance.now() - t0) / 1000, load: [load0, os.loadavg()[0]], source, error: (err as Error).message };
    }
    process.stdout.write(`  (${stored.seconds.toFixed(1)} s)\n`);
    results[bench.name] = stored;
  }
  process.stdout.write(`total ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  if (write && !quick) {
    await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(REPORT, render(results));
    process.stdout.write(`wrote ${path.relative(ROOT, REPORT)}\n`);
  }
  // Sockets of stopped bridges and simulators can linger; the figures are in.
  process.exit(0);
}

function printRow(row: Row): void {
  const met = row.met === undefined ? '' : row.met ? ' ✓' : ' ✗ (target missed)';
  process.stdout.write(`  ${row.metric}: ${row.measured} | baseline ${row.baseline} | ratio ${row.ratio} | target ${row.target}${met}\n`);
}

void main();
