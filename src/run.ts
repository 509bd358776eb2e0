// Running one bridge: the engine plus its doors, and stopping both in order.
import type { Config } from './config.js';
import { Engine } from './engine/index.js';
import { startServer } from './server/app.js';
import type { RunningServer } from './server/app.js';
import { startCompatServer } from './compat/server.js';
import type { CompatServer } from './compat/server.js';
import { BridgeMetrics } from './metrics/metrics.js';
import { Outbox } from './webhooks/index.js';
import { logger, setLogLevel } from './log.js';

const log = logger('main');

export interface Running {
  engine: Engine;
  server: RunningServer;
  /** The ComfyUI-compatible door, unless COMFY_COMPAT_PORT is 0. */
  compat?: CompatServer;
  /** What GET /metrics exposes. */
  metrics: BridgeMetrics;
  /** Webhook deliveries (sent by the process that dispatches). */
  webhooks: Outbox;
  stop(): Promise<void>;
}

/** Start a bridge with this configuration (used by `npm start`, the demo and the tests). */
export async function run(config: Config): Promise<Running> {
  setLogLevel(config.logLevel);
  const engine = await Engine.create(config);
  // Listening before the engine starts, so the events of recovered jobs are counted too, and
  // none goes by the webhooks unheard.
  const metrics = new BridgeMetrics(engine);
  const webhooks = new Outbox(engine, config.webhooks, { metrics });
  webhooks.start();
  engine.start();
  let server: RunningServer;
  try {
    server = await startServer(engine, config.host, config.port, metrics);
  } catch (err) {
    metrics.close();
    await webhooks.stop();
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
      await webhooks.stop();
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
    webhooks,
    stop() {
      // Stop accepting, let the last writes land, close sockets.
      stopping ??= (async () => {
        engine.serving = false;
        await compat?.close();
        await server.close();
        metrics.close();
        await webhooks.stop();
        await engine.stop();
      })();
      return stopping;
    },
  };
}
