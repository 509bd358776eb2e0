// npx tsx bench/profile.ts FILE.cpuprofile [TOP] [--last SECONDS]
// Summarises a V8 CPU profile (from `npm run bench -- NAME --profile DIR`): self time by
// function and by source file, and inclusive time of the bridge's own functions.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function short(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const rel = path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
  return rel.replace(/^node_modules\//, '~/') || '(native)';
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const lastAt = args.indexOf('--last');
  const lastSeconds = lastAt >= 0 ? Number(args.splice(lastAt, 2)[1]) : Infinity;
  const [file, topText] = args;
  if (!file) {
    process.stderr.write('usage: tsx bench/profile.ts FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const top = Number(topText ?? 25);
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // Only samples from the last `lastSeconds` of the profile (e.g. a benchmark's measured windows).
  const from = p.endTime - lastSeconds * 1e6;
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from) continue;
    total += p.timeDeltas[i] ?? 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  let idle = 0;
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const key = `${name} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
    const f = short(n.callFrame.url);
    fileSelf.set(f, (fileSelf.get(f) ?? 0) + us);
    // Inclusive: charge every distinct src/ frame on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur)!;
      if (!c.callFrame.url.includes('/src/')) continue;
      const k = `${c.callFrame.functionName || '(anonymous)'} ${short(c.callFrame.url)}:${c.callFrame.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  process.stdout.write(`profile ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((busy / total) * 100).toFixed(0)}%)\n`);
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`\n${title} (share of busy time)\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)} ${pct(us)}  ${k}\n`);
  };
  print('self time by function', fnSelf);
  print('self time by file', fileSelf);
  print('inclusive time of src/ functions', inclusive);
}

void main();
