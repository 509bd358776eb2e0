// `tsx src/sim/cli.ts --port 8188 --count 2 --step-ms 50`: runs N simulated
// ComfyUI servers on consecutive ports until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import type { SimOptions } from './options.js';
import { ComfySimulator } from './simulator.js';

const USAGE = `usage: cli.ts [--host 127.0.0.1] [--port 8188] [--count 1] [--step-ms 5] [--node-ms 1]
              [--speed 1] [--output-bytes 0] [--no-previews] [--no-cache] [--checkpoints a,b] [--missing-nodes A,B] [--name sim]`;

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      count: { type: 'string' },
      'step-ms': { type: 'string' },
      'node-ms': { type: 'string' },
      speed: { type: 'string' },
      'output-bytes': { type: 'string' },
      'no-previews': { type: 'boolean' },
      'no-cache': { type: 'boolean' },
      checkpoints: { type: 'string' },
      'missing-nodes': { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const basePort = numberOption(values.port, 'port') ?? 8188;
  const count = Math.max(1, Math.floor(numberOption(values.count, 'count') ?? 1));
  const common: SimOptions = {
    host: values.host,
    stepMs: numberOption(values['step-ms'], 'step-ms'),
    nodeMs: numberOption(values['node-ms'], 'node-ms'),
    speed: numberOption(values.speed, 'speed'),
    outputBytes: numberOption(values['output-bytes'], 'output-bytes'),
    previews: values['no-previews'] ? false : undefined,
    cache: values['no-cache'] ? false : undefined,
    checkpoints: values.checkpoints?.split(',').filter(Boolean),
    missingNodes: values['missing-nodes']?.split(',').filter(Boolean),
  };
  const sims: ComfySimulator[] = [];
  for (let i = 0; i < count; i++) {
    // Port 0 asks for ephemeral ports; otherwise ports are consecutive.
    const port = basePort === 0 ? 0 : basePort + i;
    sims.push(await ComfySimulator.start({ ...common, port, name: `${values.name ?? 'sim'}-${i + 1}` }));
  }
  for (const sim of sims) process.stdout.write(`${sim.url}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(sims.map((s) => s.close()));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`comfy-sim: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exit(1);
});
