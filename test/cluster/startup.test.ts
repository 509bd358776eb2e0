// Start-up against Redis: a REDIS_URL where nothing listens stops the process with a message that
// names the setting; a Redis that would lose accepted jobs on a crash (no append-only file) gets a
// warning in the log, and one that keeps them (appendonly yes, appendfsync everysec) does not.
import { LocalRedisServer } from '../../src/cluster/local-redis-server.js';
import { TestCluster, clusterTest, freePorts } from './harness.js';
import type { BridgeProcess } from './harness.js';

let cluster: TestCluster;
let volatile: LocalRedisServer | undefined;

beforeAll(async () => {
  // Its Redis keeps an append-only file (LocalRedisServer's default).
  cluster = await TestCluster.create({ sims: 1 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  await volatile?.close();
});

/** Warn-level log lines about Redis's append-only file. */
const durabilityWarnings = (p: BridgeProcess) => p.logRecords().filter((r) => r.level === 'warn' && /appendonly|append-only|\bAOF\b|appendfsync/i.test(r.msg ?? ''));

/** Resolve once the process has said it listens: everything it checks at start is logged before. */
const listening = (p: BridgeProcess) => p.waitLog('"listening on"', (r) => /listening on/.test(r.msg ?? ''), 10_000);

clusterTest('REDIS_URL where nothing listens: the process exits non-zero and says REDIS_URL on stderr', 90_000, async () => {
  const [port] = await freePorts(1);
  const p = await cluster.spawn({ REDIS_URL: `redis://127.0.0.1:${port}` }, 'no-redis');
  // Never ready: the wait ends when the process does, and says so with its log.
  const failure = await p.waitReady(80_000).then(() => undefined, (err: Error) => err);
  expect(failure?.message).toMatch(/exited code=\d+ signal=null\) before no-redis ready/);
  expect(failure?.message).toContain('REDIS_URL');
  expect(p.exit!.signal).toBeNull();
  expect(p.exit!.code).not.toBe(0);
  expect(p.stderr).toContain('REDIS_URL');
});

clusterTest('a Redis without an append-only file is warned about at start; one with it is not', 100_000, async () => {
  volatile = await LocalRedisServer.start({ appendonly: false });
  const [careless, careful] = await Promise.all([
    cluster.spawn({ REDIS_URL: volatile.url }, 'on-volatile-redis'),
    cluster.spawn({}, 'on-durable-redis'),
  ]);
  await Promise.all([careless.waitReady(), careful.waitReady()]);
  await Promise.all([listening(careless), listening(careful)]);
  expect(durabilityWarnings(careless).length).toBeGreaterThan(0);
  expect(durabilityWarnings(careful)).toEqual([]);
});
