// Every setting in one typed object, read from the environment (and an optional .env loaded by main).
// A bad value stops start-up with a message that names the setting.
import { readFileSync } from 'node:fs';
import type { ApiKey } from './engine/tenants.js';
import { parseApiKeys } from './engine/tenants.js';
import { parseAddress } from './comfy/address.js';
import { parseBackendSpec } from './engine/backend-spec.js';
import type { BackendSpec } from './engine/backend-spec.js';
import { LABEL, LABEL_RULE } from './engine/backend-spec.js';
import { readPins } from './engine/pins.js';
import type { Pins } from './scheduler/capabilities.js';
import type { WebhookSettings } from './webhooks/settings.js';
import { parseWebhookSettings } from './webhooks/settings.js';
import type { PrioritySettings } from './engine/key-limits.js';
import { parseKeyLimits, priorityProblems } from './engine/key-limits.js';
import { DEFAULT_TIER, TIERS, isTier } from './scheduler/fair-queue.js';
import type { Tier } from './scheduler/fair-queue.js';

export interface Config {
  host: string;
  port: number;
  /** Port of the ComfyUI-compatible door; 0 turns it off. */
  compatPort: number;
  /** The initial pool's URLs (normalised, without credentials), e.g. http://127.0.0.1:8188 */
  comfyServers: string[];
  /**
   * The initial pool: COMFYUI_SERVERS, then BACKENDS_FILE, with credentials and labels. Used
   * when the store holds no pool yet; after that the pool is changed at run time.
   */
  backends: BackendSpec[];
  /** POOL_FROM_ENV: every start makes the stored pool what the environment names (run-time changes last until then). */
  poolFromEnv: boolean;
  workflowDir: string;
  workflowAlias: string;
  currentState: string;
  uploadDir: string;
  dataDir: string;
  uploadMaxBytes: number;
  /** Most pixels an uploaded image may have (all frames together); checked from its header before decoding. */
  uploadMaxPixels: number;
  /** The largest graph body (POST /prompt on the compatible door). */
  maxPromptBytes: number;
  /** A request (headers and body) must have arrived within this. */
  requestTimeoutMs: number;
  /** Open websockets one clientId may hold on a door's /ws. */
  maxSocketsPerClient: number;
  /** Open websockets one API key may hold over every door and client. */
  maxSocketsPerKey: number;
  /** Jobs a backend may hold beyond the running one, so its GPU never idles between jobs. */
  prefetch: number;
  /** Seconds between `listening` heartbeats on client websockets. */
  heartbeatMs: number;
  /** How long a job survives its client's websocket going away before it is cancelled. */
  disconnectGraceMs: number;
  /** Seconds between backend health probes. */
  healthIntervalMs: number;
  /** Timeout of one backend request. */
  backendTimeoutMs: number;
  /** Consecutive failed probes before a backend is taken out of rotation. */
  healthFailures: number;
  /** Attempts a job gets on backends before it fails (a lost backend costs one). */
  jobMaxAttempts: number;
  /** A job a backend accepted but did not start for this long, while the backend ran nothing, is moved. */
  jobStartTimeoutMs: number;
  /** A running job that sent no event for this long is checked and, if still silent, moved. */
  jobStallTimeoutMs: number;
  /** Client API keys, each naming the tenant that owns what it makes; empty means one open space. */
  apiKeys: ApiKey[];
  /** Token for operator actions that touch every client; undefined means they are open. */
  adminToken: string | undefined;
  /** Bearer token that may read GET /metrics (as the admin token may); undefined: the admin token's rule. */
  metricsToken: string | undefined;
  /** Unfinished jobs one client may have; 0 means no limit. */
  maxJobsPerClient: number;
  /** Unfinished jobs the bridge holds in all; 0 means no limit. */
  maxQueue: number;
  /** FAIR_SHARE: within a priority tier, API keys and their clients take turns (off: first come, first served). */
  fairShare: boolean;
  /** Priority tiers: the default, the highest a key may ask for, and per-key limits (KEY_LIMITS). */
  priorities: PrioritySettings;
  /** Browser origins allowed by CORS; empty sends no CORS headers. "*" allows any. */
  corsOrigins: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** `json`: one JSON object a line (for log tools); `pretty`: for reading by eye (needs pino-pretty). */
  logFormat: 'json' | 'pretty';
  /** Redis of the cluster this process joins; one process on its own files when unset. */
  redisUrl?: string;
  /** Prefix of every key and channel of the cluster (several clusters can share one Redis). */
  redisPrefix: string;
  /** How long the dispatcher lease lasts without renewal: the fail-over time. */
  clusterLeaseMs: number;
  /** How long the v2 API remembers an Idempotency-Key and the answer it was given. */
  idempotencyTtlMs: number;
  /** Webhooks: signing secrets, per-key URLs, the address guard, delivery bounds. */
  webhooks: WebhookSettings;
  /** Learn each backend's node classes and model files again this often (also on connect and reconnect); 0: only then. */
  capabilityRefreshMs: number;
  /** ROUTING_FILE: workflows and model files pinned to backends (by URL or label). */
  pins: Pins;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string, fallback: string): string => {
    const v = env[name]?.trim();
    if (v === undefined || v === '') return fallback;
    return v;
  };
  const num = (name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER, integer = true } = {}): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      problems.push(`${name}=${JSON.stringify(raw)} is not ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
      return fallback;
    }
    return v;
  };

  const flag = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name}=${JSON.stringify(env[name])} is not true or false`);
    return fallback;
  };

  const tier = (name: string, fallback: Tier): Tier => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (isTier(raw)) return raw;
    problems.push(`${name}=${JSON.stringify(env[name])} is not one of ${TIERS.join(', ')}`);
    return fallback;
  };

  const list = (name: string): string[] =>
    (env[name] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);

  const backendsFile = env.BACKENDS_FILE?.trim() || undefined;
  const backends: BackendSpec[] = [];
  // Without BACKENDS_FILE, one ComfyUI on this machine's default port.
  for (const given of str('COMFYUI_SERVERS', backendsFile ? '' : '127.0.0.1:8188').split(',').map((s) => s.trim()).filter(Boolean)) {
    // `host:port#label+label`: labels after the address (a label has no "#").
    const hash = given.indexOf('#');
    const entry = hash < 0 ? given : given.slice(0, hash);
    const labels = hash < 0 ? [] : [...new Set(given.slice(hash + 1).split('+').map((l) => l.trim()).filter(Boolean))];
    const bad = labels.find((l) => !LABEL.test(l));
    if (bad !== undefined) problems.push(`COMFYUI_SERVERS entry: label ${JSON.stringify(bad.slice(0, 70))} is not ${LABEL_RULE} characters (labels: host:port#label+label)`);
    const parsed = parseAddress(entry);
    if (parsed.ok) backends.push({ ...parsed.address, labels });
    else problems.push(`COMFYUI_SERVERS entry ${parsed.problem}`);
  }
  if (backendsFile) backends.push(...readBackendsFile(backendsFile, problems));
  if (backends.length === 0 && !problems.some((p) => p.startsWith('COMFYUI_SERVERS') || p.startsWith('BACKENDS_FILE'))) {
    problems.push(backendsFile ? 'COMFYUI_SERVERS and BACKENDS_FILE name no server' : 'COMFYUI_SERVERS names no server');
  }
  const servers = backends.map((b) => b.url);
  const dupes = servers.filter((s, i) => servers.indexOf(s) !== i);
  if (dupes.length) problems.push(`${backendsFile ? 'COMFYUI_SERVERS and BACKENDS_FILE list' : 'COMFYUI_SERVERS lists'} ${dupes[0]} more than once`);

  const logLevel = str('LOG_LEVEL', 'info');
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)} is not one of debug, info, warn, error, silent`);
  }

  const logFormat = str('LOG_FORMAT', 'json');
  if (!['json', 'pretty'].includes(logFormat)) {
    problems.push(`LOG_FORMAT=${JSON.stringify(logFormat)} is not one of json, pretty`);
  }

  const config: Config = {
    host: str('HOST', '127.0.0.1'),
    port: num('PORT', 8000, { max: 65535 }),
    compatPort: num('COMFY_COMPAT_PORT', 8188, { max: 65535 }),
    comfyServers: [...new Set(servers)],
    backends: backends.filter((b, i) => servers.indexOf(b.url) === i),
    poolFromEnv: flag('POOL_FROM_ENV', false),
    workflowDir: str('WORKFLOW_DIR', 'workflows'),
    workflowAlias: str('WORKFLOW_ALIAS', 'workflow_alias.json'),
    currentState: str('CURRENT_STATE', 'current_state.json'),
    uploadDir: str('UPLOAD_DIR', 'uploads'),
    dataDir: str('DATA_DIR', 'data'),
    uploadMaxBytes: Math.round(num('UPLOAD_MAX_SIZE', 100, { min: 0.001, max: 10_000, integer: false }) * 1024 * 1024),
    // Megapixels. 100 takes an 8192×8192 (8K square) image and the largest camera photos, while
    // one decoded image stays near 400 MB as 8-bit RGBA.
    uploadMaxPixels: Math.round(num('UPLOAD_MAX_PIXELS', 100, { min: 0.000001, max: 10_000, integer: false }) * 1_000_000),
    maxPromptBytes: num('MAX_PROMPT_BYTES', 4 * 1024 * 1024, { min: 1024, max: 1024 * 1024 * 1024 }),
    requestTimeoutMs: Math.round(num('REQUEST_TIMEOUT', 300, { min: 1, max: 86_400, integer: false }) * 1000),
    maxSocketsPerClient: num('MAX_SOCKETS_PER_CLIENT', 8, { min: 1, max: 10_000 }),
    maxSocketsPerKey: num('MAX_SOCKETS_PER_KEY', 256, { min: 1, max: 1_000_000 }),
    prefetch: num('BACKEND_PREFETCH', 1, { max: 64 }),
    heartbeatMs: Math.round(num('HEARTBEAT_INTERVAL', 10, { min: 0.01, max: 3600, integer: false }) * 1000),
    disconnectGraceMs: Math.round(num('DISCONNECT_GRACE', 5, { max: 3600, integer: false }) * 1000),
    healthIntervalMs: Math.round(num('HEALTH_INTERVAL', 2, { min: 0.01, max: 3600, integer: false }) * 1000),
    backendTimeoutMs: Math.round(num('BACKEND_TIMEOUT', 10, { min: 0.01, max: 3600, integer: false }) * 1000),
    healthFailures: num('HEALTH_FAILURES', 2, { min: 1, max: 100 }),
    jobMaxAttempts: num('JOB_MAX_ATTEMPTS', 3, { min: 1, max: 100 }),
    jobStartTimeoutMs: Math.round(num('JOB_START_TIMEOUT', 120, { min: 0.01, max: 86_400, integer: false }) * 1000),
    jobStallTimeoutMs: Math.round(num('JOB_STALL_TIMEOUT', 600, { min: 0.01, max: 86_400, integer: false }) * 1000),
    apiKeys: [],
    adminToken: env.ADMIN_TOKEN?.trim() || undefined,
    metricsToken: env.METRICS_TOKEN?.trim() || undefined,
    maxJobsPerClient: num('MAX_JOBS_PER_CLIENT', 100, { max: 1_000_000 }),
    maxQueue: num('MAX_QUEUE', 100_000, { max: 10_000_000 }),
    fairShare: flag('FAIR_SHARE', true),
    priorities: { defaultPriority: tier('PRIORITY_DEFAULT', DEFAULT_TIER), maxPriority: tier('PRIORITY_MAX', DEFAULT_TIER), keys: {} },
    corsOrigins: list('CORS_ORIGINS'),
    logLevel: logLevel as Config['logLevel'],
    logFormat: logFormat as Config['logFormat'],
    redisPrefix: str('REDIS_PREFIX', 'comfy-bridge:'),
    clusterLeaseMs: Math.round(num('CLUSTER_LEASE', 5, { min: 0.5, max: 300, integer: false }) * 1000),
    idempotencyTtlMs: Math.round(num('IDEMPOTENCY_TTL', 86_400, { min: 1, max: 30 * 86_400, integer: false }) * 1000),
    webhooks: {
      secret: undefined,
      secrets: {},
      urls: {},
      addresses: { allowAll: false, allowed: [] },
      retryWindowMs: Math.round(num('WEBHOOK_RETRY_WINDOW', 86_400, { min: 1, max: 30 * 86_400, integer: false }) * 1000),
      timeoutMs: Math.round(num('WEBHOOK_TIMEOUT', 10, { min: 0.05, max: 300, integer: false }) * 1000),
      concurrency: num('WEBHOOK_CONCURRENCY', 16, { min: 1, max: 1000 }),
      retentionMs: Math.round(num('WEBHOOK_RETENTION', 7 * 86_400, { min: 1, max: 365 * 86_400, integer: false }) * 1000),
      maxKept: num('WEBHOOK_MAX_KEPT', 10_000, { min: 1, max: 1_000_000 }),
    },
    capabilityRefreshMs: Math.round(num('CAPABILITY_REFRESH', 300, { max: 86_400, integer: false }) * 1000),
    pins: { workflows: new Map(), models: new Map() },
  };
  const routingFile = env.ROUTING_FILE?.trim();
  if (routingFile) {
    const read = readPins(routingFile);
    problems.push(...read.problems);
    config.pins = read.pins;
  }
  const redisUrl = env.REDIS_URL?.trim();
  if (redisUrl) {
    if (/^rediss?:\/\/[^\s]+$/i.test(redisUrl) && URL.canParse(redisUrl)) config.redisUrl = redisUrl;
    else problems.push('REDIS_URL is not a redis:// or rediss:// URL');
  }
  const fromEnv = parseApiKeys(list('API_KEYS'), 'API_KEYS');
  problems.push(...fromEnv.problems);
  config.apiKeys = fromEnv.keys;
  const keysFile = env.API_KEYS_FILE?.trim();
  if (keysFile) {
    let text: string | undefined;
    try {
      text = readFileSync(keysFile, 'utf8');
    } catch (err) {
      problems.push(`API_KEYS_FILE=${JSON.stringify(keysFile)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (text !== undefined) {
      const fromFile = parseApiKeys(text.split(/\r?\n/), `API_KEYS_FILE (${keysFile})`);
      problems.push(...fromFile.problems);
      const both = parseApiKeys([...config.apiKeys, ...fromFile.keys].map((k) => `${k.name}:${k.key}`), 'API_KEYS and API_KEYS_FILE together');
      problems.push(...both.problems.filter((p) => !fromFile.problems.includes(p)));
      config.apiKeys = both.keys;
    }
  }
  // After the keys: per-key webhook settings name them.
  Object.assign(config.webhooks, parseWebhookSettings(env, config.apiKeys.map((k) => k.name), problems));
  config.priorities.keys = parseKeyLimits(env.KEY_LIMITS, config.apiKeys.map((k) => k.name), problems);
  problems.push(...priorityProblems(config.priorities, config.apiKeys.map((k) => k.name)));
  if (config.adminToken !== undefined && config.adminToken.length < 16) problems.push('ADMIN_TOKEN is shorter than 16 characters; use a long random token');
  if (config.metricsToken !== undefined && (config.metricsToken.length < 16 || /\s/.test(config.metricsToken))) problems.push('METRICS_TOKEN is shorter than 16 characters or contains a space; use a long random token');
  for (const origin of config.corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) problems.push(`CORS_ORIGINS entry ${JSON.stringify(origin)} is not an origin like https://app.example.com (or *)`);
  }
  if (problems.length) throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return config;
}

/**
 * `host:port` or `http(s)://[user:password@]host:port[/]` → `http(s)://host:port` (credentials
 * left out); undefined when malformed.
 */
export function parseServer(entry: string): string | undefined {
  const parsed = parseAddress(entry);
  return parsed.ok ? parsed.address.url : undefined;
}

/** BACKENDS_FILE: a JSON list of backends, each {url, labels?, token? | username? and password?}. */
function readBackendsFile(file: string, problems: string[]): BackendSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`BACKENDS_FILE=${JSON.stringify(file)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return [];
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    // Not the parser's message: it may quote the file, credentials included.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    problems.push(`BACKENDS_FILE (${file}) is not valid JSON${at ? ` (near character ${at})` : ''}`);
    return [];
  }
  if (!Array.isArray(list)) {
    problems.push(`BACKENDS_FILE (${file}) must be a JSON list of backends like [{"url": "http://gpu1:8188", "labels": ["sdxl"]}]`);
    return [];
  }
  const specs: BackendSpec[] = [];
  list.forEach((value, i) => {
    const { spec, problems: found } = parseBackendSpec(value, `BACKENDS_FILE (${file}) entry ${i + 1}`);
    problems.push(...found);
    if (spec) specs.push(spec);
  });
  return specs;
}
