// `npm run demo`: the bridge in front of two simulated ComfyUI servers, no GPU needed.
// Uses the normal settings (PORT, WORKFLOW_DIR, …) except COMFYUI_SERVERS, which it provides. Its
// state (job store, uploads, generation count) defaults to .demo/, an ignored folder, so a demo run
// leaves the checkout as it was; its logs default to pretty lines.
// `npm run demo -- --cluster N`: the same simulators behind N bridge processes on one Redis
// (demo-cluster.ts).
import { existsSync } from 'node:fs';
import { loadConfig, ConfigError } from './config.js';
import { run } from './run.js';
import { usePrettyLogs } from './log.js';
import { ComfySimulator } from './sim/index.js';
import { encodeSolidPng } from './sim/png.js';
import { DEMO_USAGE, DemoUsageError, parseDemoArgs, runClusterDemo } from './demo-cluster.js';

const DEMO = '.demo';
const DEMO_DEFAULTS = {
  DATA_DIR: `${DEMO}/data`,
  UPLOAD_DIR: `${DEMO}/uploads`,
  CURRENT_STATE: `${DEMO}/current_state.json`,
  LOG_FORMAT: 'pretty',
};

async function main(): Promise<void> {
  let args;
  try {
    args = parseDemoArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof DemoUsageError) {
      process.stderr.write(`comfy-bridge demo: ${err.message}\n${DEMO_USAGE}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (existsSync('.env')) process.loadEnvFile('.env');
  if (args.cluster !== undefined) return runClusterDemo(args.cluster, startSimulators);
  const sims = await startSimulators();

  let config;
  try {
    // The simulators get new ports every run: the pool is theirs, not the one the last run stored.
    config = loadConfig({ ...DEMO_DEFAULTS, ...process.env, COMFYUI_SERVERS: sims.map((s) => s.url).join(','), POOL_FROM_ENV: 'true' });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`comfy-bridge demo: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.logFormat === 'pretty') await usePrettyLogs();
  const running = await run(config);
  const url = running.server.url;
  const ws = url.replace(/^http/, 'ws');
  process.stdout.write(`
comfy-bridge demo is running at ${url}
  simulated ComfyUI servers: ${sims.map((s) => s.url).join(', ')}

Try it (in another terminal):
  curl ${url}/workflow-list
  curl '${url}/workflow-info?workflow=txt2img'
  curl -X POST '${url}/generate-based-workflow?clientId=demo-client-1' \\
       -H 'Content-Type: application/json' -d '{"workflow": "txt2img", "6/text": "a lighthouse at dusk", "3/seed": 42}'
  curl '${url}/execution-info?clientId=demo-client-1'        # repeat until "closed"
  curl -o result.multipart '${url}/history?clientId=demo-client-1'
  curl ${url}/generation-count

Follow progress live (any websocket client, e.g. npx wscat -c '${ws}/ws?clientId=demo-client-2'),
then submit with clientId=demo-client-2.
${
    running.compat
      ? `
ComfyUI clients: point them at ${running.compat.url} (ComfyUI's own API, over the same pool), e.g.
  curl ${running.compat.url}/system_stats
`
      : ''
  }
Ctrl-C stops the demo.
`);
  const stop = async () => {
    await running.stop();
    await Promise.all(sims.map((s) => s.close()));
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

/** DEMO_BACKENDS simulated ComfyUI servers (2 by default), each with the img2img sample's input. */
async function startSimulators(): Promise<ComfySimulator[]> {
  const count = Number(process.env.DEMO_BACKENDS ?? 2);
  const stepMs = Number(process.env.DEMO_STEP_MS ?? 40);
  const sims = await Promise.all(Array.from({ length: count }, (_, i) => ComfySimulator.start({ name: `demo-${i + 1}`, stepMs, nodeMs: 20 })));
  // The img2img sample's default input, as a ComfyUI install would have it.
  const example = encodeSolidPng({ width: 64, height: 64, rgb: [200, 120, 40] }).toBuffer();
  for (const sim of sims) {
    const form = new FormData();
    form.set('image', new Blob([example], { type: 'image/png' }), 'example.png');
    await fetch(`${sim.url}/upload/image`, { method: 'POST', body: form });
  }
  return sims;
}

void main().catch((err) => {
  process.stderr.write(`comfy-bridge demo: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
