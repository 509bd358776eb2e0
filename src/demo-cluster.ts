// `npm run demo -- --cluster N`: the demo's simulated ComfyUI servers behind N bridge processes that
// share one Redis, to show that any process serves any client and that the cluster survives losing
// its dispatcher. Redis is REDIS_URL when set, else a throwaway local redis-server. The bridges are
// real processes (`node --import tsx src/main.ts`), so one can be killed like a crashed server.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LocalRedisServer, REDIS_PACKAGE, hasRedisServer } from './cluster/local-redis-server.js';
import type { ComfySimulator } from './sim/index.js';

type Env = Record<string, string | undefined>;

export class DemoUsageError extends Error {}

export const DEMO_USAGE = 'usage: npm run demo [-- --cluster N]   (N bridge processes on one Redis, 1 to 16)';

const MAX_BRIDGES = 16;
/** A bridge process compiles its sources at start (tsx); on a busy machine that takes a while. */
const READY_TIMEOUT_MS = 90_000;
/** How long a bridge may take to stop on SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 15_000;
const CLUSTER_DIR = '.demo/cluster';

/** The demo's command line: nothing, or `--cluster N` (also `--cluster=N`). */
export function parseDemoArgs(argv: string[]): { cluster?: number } {
  let cluster: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let value: string | undefined;
    if (arg === '--cluster') value = argv[++i];
    else if (arg.startsWith('--cluster=')) value = arg.slice('--cluster='.length);
    else throw new DemoUsageError(`unknown argument ${JSON.stringify(arg)}`);
    const n = Number(value);
    if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_BRIDGES) {
      throw new DemoUsageError(`--cluster needs a number of bridge processes from 1 to ${MAX_BRIDGES}, got ${JSON.stringify(value ?? '')}`);
    }
    cluster = n;
  }
  return cluster === undefined ? {} : { cluster };
}

export interface BridgePlan {
  /** 1-based, as in the log prefix. */
  number: number;
  port: number;
  /** 0 when the ComfyUI-compatible door is off. */
  compatPort: number;
  /** What this process gets on top of the demo's own environment. */
  env: Record<string, string>;
}

/**
 * Each bridge's settings: the same Redis, backends and UPLOAD_DIR for all; PORT and
 * COMFY_COMPAT_PORT counted up from their settings (8000 and 8188 by default).
 */
export function planBridges(count: number, env: Env, redisUrl: string, backends: string[]): BridgePlan[] {
  const port = portBase(env, 'PORT', 8000, count, 1);
  const compat = portBase(env, 'COMFY_COMPAT_PORT', 8188, count, 0);
  return Array.from({ length: count }, (_, i) => {
    const number = i + 1;
    const own = `${CLUSTER_DIR}/bridge-${number}`;
    const plan: BridgePlan = { number, port: port + i, compatPort: compat === 0 ? 0 : compat + i, env: {} };
    plan.env = {
      REDIS_URL: redisUrl,
      // Apart from a real cluster that may share REDIS_URL.
      REDIS_PREFIX: env.REDIS_PREFIX?.trim() || 'comfy-bridge-demo:',
      COMFYUI_SERVERS: backends.join(','),
      // The simulators get new ports every run: the pool is theirs, not one an earlier run stored.
      POOL_FROM_ENV: 'true',
      // Every process of a cluster must see the same uploaded files.
      UPLOAD_DIR: env.UPLOAD_DIR?.trim() || `${CLUSTER_DIR}/uploads`,
      // Not used on Redis; set so nothing lands in the checkout.
      DATA_DIR: `${own}/data`,
      CURRENT_STATE: `${own}/current_state.json`,
      PORT: String(plan.port),
      COMFY_COMPAT_PORT: String(plan.compatPort),
      LOG_FORMAT: env.LOG_FORMAT?.trim() || 'pretty',
    };
    return plan;
  });
}

function portBase(env: Env, name: string, fallback: number, count: number, min: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const base = Number(raw);
  if (base === 0 && min === 0) return 0;
  if (!Number.isInteger(base) || base < 1 || base + count - 1 > 65535) {
    throw new DemoUsageError(`${name}=${JSON.stringify(raw)}: the cluster demo needs a port from 1 to ${65536 - count} to count ${count} bridge(s) up from`);
  }
  return base;
}

/** A host the demo can connect to when the bridges listen on every address. */
function reachable(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function say(line: string): void {
  process.stderr.write(`comfy-bridge demo: ${line}\n`);
}

/** One bridge process, its log lines prefixed with its number. */
class Bridge {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  alive = true;
  stopping = false;

  constructor(
    readonly plan: BridgePlan,
    readonly url: string,
    env: Env,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...env, ...plan.env },
      // In the demo's process group: Ctrl-C reaches it too, and it stops as in production; the demo
      // waits for it before stopping what it uses.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const prefix = `bridge ${plan.number} | `;
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => process.stderr.write(`${prefix}${line}\n`));
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.alive = false;
        if (!this.stopping) say(`bridge ${plan.number} (pid ${this.child.pid}) exited (${signal ?? `code ${code}`})`);
        resolve();
      });
    });
  }

  /** Answers once GET /readyz says ready; throws if the process exits or the time runs out. */
  async ready(deadline: number): Promise<void> {
    while (this.alive) {
      try {
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`bridge ${this.plan.number} did not answer GET ${this.url}/readyz with 200 within ${READY_TIMEOUT_MS / 1000} s`);
      await Promise.race([new Promise((r) => setTimeout(r, 250)), this.exited]);
    }
    throw new Error(`bridge ${this.plan.number} exited before it was ready (its log lines above say why)`);
  }

  /** Its cluster role as GET /readyz tells it, if it answers. */
  async role(): Promise<string | undefined> {
    try {
      const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { cluster?: { role?: string } };
      return body.cluster?.role;
    } catch {
      return undefined;
    }
  }

  /** SIGTERM, and SIGKILL if it has not stopped in time. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.stopping = true;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      say(`bridge ${this.plan.number} did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM; killing it`);
      this.child.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Runs the cluster demo until SIGINT/SIGTERM. `startSimulators` starts the backends once Redis is
 * known to be there.
 */
export async function runClusterDemo(count: number, startSimulators: () => Promise<ComfySimulator[]>): Promise<void> {
  const env = process.env;
  const host = reachable(env.HOST?.trim() || '127.0.0.1');
  let redis: LocalRedisServer | undefined;
  const sims: ComfySimulator[] = [];
  const bridges: Bridge[] = [];

  // Bridges first (each stops on SIGTERM as in production), then what they use. From the first
  // moment on, so that a signal during start-up leaves nothing running either.
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      await Promise.all(bridges.map((b) => b.stop()));
      await Promise.all(sims.map((s) => s.close()));
      await redis?.close();
    })());
  const stop = (signal: string) => {
    // A second signal is common (tsx passes Ctrl-C on as well); stopping is bounded anyway.
    if (stopping) return;
    say(`${signal}: stopping the bridges, then the simulators${redis ? ' and Redis' : ''}`);
    void stopAll().then(
      () => process.exit(0),
      (err) => {
        say(`stopping failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Should the demo itself fail, its bridges go with it.
  process.on('exit', () => {
    for (const bridge of bridges) if (bridge.alive) bridge.child.kill('SIGKILL');
  });

  let redisUrl = env.REDIS_URL?.trim();
  try {
    if (!redisUrl) {
      if (!hasRedisServer()) {
        say(`--cluster needs Redis: install the Debian package ${REDIS_PACKAGE} (apt-get install ${REDIS_PACKAGE}) for a throwaway local one, or set REDIS_URL`);
        process.exit(1);
      }
      redis = await LocalRedisServer.start({ detached: true });
      redisUrl = redis.url;
    }
    sims.push(...(await startSimulators()));
    const plans = planBridges(count, env, redisUrl, sims.map((s) => s.url));
    const forceColor = process.stderr.isTTY && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined ? { FORCE_COLOR: '1' } : {};
    for (const plan of plans) bridges.push(new Bridge(plan, `http://${host}:${plan.port}`, { ...env, ...forceColor }));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    await Promise.all(bridges.map((b) => b.ready(deadline)));
  } catch (err) {
    if (stopping) return;
    say(err instanceof DemoUsageError ? err.message : `cannot start: ${(err as Error).message}`);
    await stopAll();
    process.exit(1);
  }
  if (stopping) return;
  const roles = await Promise.all(bridges.map((b) => b.role()));
  process.stdout.write(describe({ bridges, roles, redisUrl, localRedis: redis !== undefined, sims, host, lease: env.CLUSTER_LEASE?.trim() || '5' }));
}

interface Running {
  bridges: Bridge[];
  /** Each bridge's role as it said when the demo started. */
  roles: (string | undefined)[];
  redisUrl: string;
  localRedis: boolean;
  sims: ComfySimulator[];
  host: string;
  lease: string;
}

/** What is running, and curl commands that show what a cluster does. */
function describe({ bridges, roles, redisUrl, localRedis, sims, host, lease }: Running): string {
  const settings = bridges[0].plan.env;
  const first = bridges[0].url;
  const second = bridges[Math.min(1, bridges.length - 1)].url;
  const ws = second.replace(/^http/, 'ws');
  const rows = bridges.map((b, i) => {
    const compat = b.plan.compatPort ? `  ComfyUI door :${b.plan.compatPort}` : '';
    return `  bridge ${b.plan.number}  ${b.url}${compat}  pid ${b.child.pid}${roles[i] ? `  ${roles[i]}` : ''}`;
  });
  const submit = (url: string, client: string) =>
    `curl -X POST '${url}/generate-based-workflow?clientId=${client}' \\
       -H 'Content-Type: application/json' -d '{"workflow": "txt2img", "6/text": "a lighthouse at dusk"}'`;
  const dispatcher = roles.indexOf('dispatcher');
  // Ask a process that outlives the kill.
  const survivor = bridges.find((_, i) => i !== Math.max(dispatcher, 0))?.url ?? second;
  const kill =
    dispatcher >= 0
      ? `kill -9 ${bridges[dispatcher].child.pid}      # bridge ${dispatcher + 1}, the dispatcher now`
      : 'kill -9 <pid of the dispatcher>';
  const failOver =
    bridges.length < 2
      ? 'With one process there is nothing to fail over to: try --cluster 2.\n'
      : `Queue some work, kill the dispatcher, and watch another process take over within about
CLUSTER_LEASE (${lease} s) and finish every job:
  for i in $(seq 20); do ${submit(survivor, 'demo-client-3')}; echo; done
  ${kill}
  curl '${survivor}/execution-info?clientId=demo-client-3'        # repeat until "closed"
`;
  return `
comfy-bridge cluster demo: ${bridges.length} bridge process${bridges.length > 1 ? 'es' : ''} on one Redis
${rows.join('\n')}
  Redis: ${redisUrl}${localRedis ? ' (a throwaway local redis-server)' : ''}, keys under ${settings.REDIS_PREFIX}
  simulated ComfyUI servers: ${sims.map((s) => s.url).join(', ')}
  uploaded files, shared by every process: ${settings.UPLOAD_DIR}

Submit through one process, follow and collect through another (in another terminal):
  ${submit(first, 'demo-client-1')}
  curl '${second}/execution-info?clientId=demo-client-1'        # repeat until "closed"
  curl -o result.multipart '${second}/history?clientId=demo-client-1'
  curl ${second}/generation-count

Or follow live on one process (e.g. npx wscat -c '${ws}/ws?clientId=demo-client-2')
and submit with clientId=demo-client-2 through ${first}.

One process is the dispatcher: it runs the queue and talks to the ComfyUI servers.
  for port in ${bridges.map((b) => b.plan.port).join(' ')}; do curl -s http://${host}:$port/readyz; echo; done     # "cluster":{"role":...}
${failOver}
Ctrl-C stops the bridges, then the simulators${localRedis ? ' and Redis' : ''}.
`;
}
