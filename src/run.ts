// Running one bridge: the engine plus its doors, and stopping both in order.
import type { Config } from './config.js';
import { Engine } from './engine/index.js';
import { startServer } from './server/app.js';
import type { RunningServer } from './server/app.js';
import { startCompatServer } from './compat/server.js';
import { BridgeMetrics } from './metrics/metrics.js';
import { logger, setLogLevel } from './log.js';

const log = logger('main');

export interface Running {
  engine: Engine;
  server: RunningServer;
  /** The ComfyUI-compatible door, unless COMFY_COMPAT_PORT is 0. */
  compat?: { url: string; close(): Promise<void> };
  /** What GET /metrics exposes. */
  metrics: BridgeMetrics;
  stop(): Promise<void>;
}

/** Start a bridge with this configuration (used by `npm start`, the demo and the tests). */
export async function run(config: Config): Promise<Running> {
  setLogLevel(config.logLevel);
  const engine = await Engine.create(config);
  // Listening before the engine starts, so the events of recovered jobs are counted too.
  const metrics = new BridgeMetrics(engine);
  engine.start();
  let server: RunningServer;
  try {
    server = await startServer(engine, config.host, config.port, metrics);
  } catch (err) {
    metrics.close();
    await engine.stop();
    throw err;
  }
  let compat: Running['compat'];
  if (config.compatPort !== 0) {
    try {
      compat = await startCompatServer(engine, config.host, config.compatPort, metrics);
    } catch (err) {
      await server.close();
      metrics.close();
      await engine.stop();
      throw err;
    }
  }
  if (config.apiKeys.length === 0 && config.adminToken === undefined) {
    log.warn('API_KEYS and ADMIN_TOKEN are not set: anyone who can reach this port can use the bridge and its operator actions');
  } else if (config.apiKeys.length === 0) {
    log.warn('API_KEYS is not set: every client shares one open space and can see and cancel the others\' work; set API_KEYS to give each key its own');
  }
  engine.serving = true;
  let stopping: Promise<void> | undefined;
  return {
    engine,
    server,
    compat,
    metrics,
    stop() {
      // Stop accepting, let the last writes land, close sockets.
      stopping ??= (async () => {
        engine.serving = false;
        await compat?.close();
        await server.close();
        metrics.close();
        await engine.stop();
      })();
      return stopping;
    },
  };
}
