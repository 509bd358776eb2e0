// The engine API: what every door uses.
export { Engine, ClientError, DuplicateJobError, FINISHED_RETENTION_MS, COLLECTED_RETENTION_MS } from './engine.js';
export type { Accepted, AddBackendOptions, BackendInfo, BackendReading, Collection, FreeOptions, JobSpec, QueueCounts, Readiness, SideTable } from './engine.js';
export * from './events.js';
export { NoBackend } from './pool-info.js';
export type { InfoAnswer, ObjectInfoBody, PoolInfo } from './pool-info.js';
export { OPEN, OPERATOR, clientKey } from './tenants.js';
export { CallerView, sees } from './caller.js';
export type { QuotaAnswer } from './socket-quota.js';
export type { ClientRef, Principal } from './tenants.js';
export { TIERS, isTier, tierRank } from '../scheduler/fair-queue.js';
export type { Tier } from '../scheduler/fair-queue.js';
