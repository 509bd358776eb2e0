// Running one bridge: the engine plus its server, and stopping both in order.
import type { Config } from './config.js';
import { Bridge } from './bridge.js';
import { startServer } from './server/app.js';
import type { RunningServer } from './server/app.js';
import { startCompatServer } from './compat/server.js';
import { logger, setLogLevel } from './log.js';

const log = logger('main');

export interface Running {
  bridge: Bridge;
  server: RunningServer;
  /** The ComfyUI-compatible door, unless COMFY_COMPAT_PORT is 0. */
  compat?: { url: string; close(): Promise<void> };
  stop(): Promise<void>;
}

/** Start a bridge with this configuration (used by `npm start`, the demo and the tests). */
export async function run(config: Config): Promise<Running> {
  setLogLevel(config.logLevel);
  const bridge = await Bridge.create(config);
  bridge.start();
  let server: RunningServer;
  try {
    server = await startServer(bridge, config.host, config.port);
  } catch (err) {
    await bridge.stop();
    throw err;
  }
  let compat: Running['compat'];
  if (config.compatPort !== 0) {
    try {
      compat = await startCompatServer(bridge, config.host, config.compatPort);
    } catch (err) {
      await server.close();
      await bridge.stop();
      throw err;
    }
  }
  if (config.apiKeys.length === 0 && config.adminToken === undefined) {
    log.warn('API_KEYS and ADMIN_TOKEN are not set: anyone who can reach this port can use the bridge and its operator actions');
  }
  let stopping: Promise<void> | undefined;
  return {
    bridge,
    server,
    compat,
    stop() {
      // Stop accepting, let the last writes land, close sockets.
      stopping ??= (async () => {
        await compat?.close();
        await server.close();
        await bridge.stop();
      })();
      return stopping;
    },
  };
}
