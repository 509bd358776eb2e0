// The entry point: settings from the environment (and .env), start, and shut down gracefully
// on SIGTERM/SIGINT (stop accepting, let the last writes land, close sockets, exit 0).
import { existsSync } from 'node:fs';
import { loadConfig, ConfigError } from './config.js';
import type { Config } from './config.js';
import { run } from './run.js';
import type { Running } from './run.js';
import { logger, usePrettyLogs } from './log.js';

const log = logger('main');

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`comfy-bridge: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (config.logFormat === 'pretty') {
    try {
      await usePrettyLogs();
    } catch (err) {
      process.stderr.write(`comfy-bridge: ${(err as Error).message}\n`);
      process.exit(2);
    }
  }
  let running: Running;
  try {
    running = await run(config);
  } catch (err) {
    process.stderr.write(`comfy-bridge: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  // A dispatcher that finds another holding its lease cannot trust what it holds in memory: it
  // stops at once, and its supervisor starts it again as a follower (as Kubernetes controllers do).
  running.engine.cluster?.lease.on('lost', () => {
    log.error('lost the dispatcher lease to another process: exiting so this process restarts clean');
    process.exit(75);
  });
  // The pool as stored (COMFYUI_SERVERS only made the first one); URLs without credentials.
  const pool = running.engine.backendsInfo().filter((b) => !b.removed).map((b) => b.url);
  log.info({ url: running.server.url, compat: running.compat?.url, backends: pool }, `listening on ${running.server.url} with ${pool.length} ComfyUI server(s)`);
  const shutdown = (signal: string) => {
    log.info({ signal }, `${signal}: shutting down`);
    running.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, `shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

void main();
