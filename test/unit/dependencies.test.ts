// The layering of src/: the simulator is a test double that the product never loads, and src/comfy
// (what one ComfyUI is and how it behaves) sits below everything that serves or schedules.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Import {
  /** The importing module, relative to the repository root. */
  from: string;
  line: number;
  specifier: string;
  /** The imported module, relative to the repository root. */
  to: string;
}

function posixPath(path: string): string {
  return path.split(sep).join('/');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => posixPath(join(dir, name)));
}

/** The module a relative specifier names: ESM imports spell './x.js' for the source './x.ts'. */
function resolveModule(from: string, specifier: string): string {
  const base = resolve(ROOT, dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts'), base];
  const found = candidates.find((path) => existsSync(path) && path.endsWith('.ts')) ?? base;
  return posixPath(relative(ROOT, found));
}

/** Every import, export-from, import() and require of project modules in src/, read by the TypeScript parser. */
function importGraph(): Map<string, Import[]> {
  const graph = new Map<string, Import[]>();
  for (const file of sourceFiles('src')) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const { importedFiles } = ts.preProcessFile(text, true, true);
    const edges = importedFiles
      .filter(({ fileName }) => fileName.startsWith('.'))
      .map(({ fileName, pos }) => ({
        from: file,
        line: text.slice(0, pos).split('\n').length,
        specifier: fileName,
        to: resolveModule(file, fileName),
      }));
    graph.set(file, edges);
  }
  return graph;
}

function describeImport({ from, line, specifier, to }: Import): string {
  return `${from}:${line} imports '${specifier}' (${to})`;
}

function inside(dir: string, file: string): boolean {
  return file.startsWith(`${dir}/`);
}

const graph = importGraph();
const allImports = [...graph.values()].flat();

test('the import graph is read: the production entry and the simulator are in it', () => {
  expect(graph.has('src/main.ts')).toBe(true);
  expect(allImports.some((edge) => edge.from === 'src/demo.ts' && inside('src/sim', edge.to))).toBe(true);
  // Every relative import resolves to a module of src/.
  expect(allImports.filter((edge) => !graph.has(edge.to)).map(describeImport)).toEqual([]);
});

test('nothing outside src/sim imports the simulator, except the demo that starts simulators', () => {
  const allowed = new Set(['src/demo.ts', 'src/demo-cluster.ts']);
  const offences = allImports.filter((edge) => !inside('src/sim', edge.from) && !allowed.has(edge.from) && inside('src/sim', edge.to));
  expect(offences.map(describeImport)).toEqual([]);
});

test('the production entry (src/main.ts) loads no simulator module', () => {
  // Breadth-first from main.ts; each reached module remembers the import that reached it.
  const reachedBy = new Map<string, Import | null>([['src/main.ts', null]]);
  const frontier = ['src/main.ts'];
  while (frontier.length > 0) {
    const file = frontier.shift()!;
    for (const edge of graph.get(file) ?? []) {
      if (reachedBy.has(edge.to)) continue;
      reachedBy.set(edge.to, edge);
      frontier.push(edge.to);
    }
  }
  const chain = (file: string): string[] => {
    const steps: string[] = [];
    for (let edge = reachedBy.get(file); edge; edge = reachedBy.get(edge.from)) steps.unshift(describeImport(edge));
    return steps;
  };
  // Where the product steps into the simulator; what the simulator loads from there follows.
  const entered = [...reachedBy.entries()].filter(([file, edge]) => inside('src/sim', file) && edge && !inside('src/sim', edge.from));
  expect(entered.map(([file]) => ({ module: file, via: chain(file) }))).toEqual([]);
});

test('src/comfy, the layer about one ComfyUI, imports nothing that serves, schedules or simulates', () => {
  const above = ['src/compat', 'src/server', 'src/engine', 'src/scheduler', 'src/jobs', 'src/sim'];
  const offences = allImports.filter((edge) => inside('src/comfy', edge.from) && above.some((dir) => inside(dir, edge.to)));
  expect(offences.map(describeImport)).toEqual([]);
});
