// Hostile requests, made from a seed so that a failing run can be replayed (FUZZ_SEED).
// Each request is plain data: the runner sends it over HTTP, a raw socket or a websocket.

/** A small, fast, seedable generator (mulberry32). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** Garbage bytes: up to 256 random ones, repeated to the length asked (cheap for large n). */
  bytes(n: number): Buffer {
    const seed = Buffer.allocUnsafe(Math.min(n, 256));
    for (let i = 0; i < seed.length; i++) seed[i] = Math.floor(this.next() * 256);
    return n <= seed.length ? seed : Buffer.alloc(n, seed);
  }
}

/** A well-formed uuid from the seed (the jobs API refuses anything else). */
function uuidOf(rng: Rng): string {
  const hex = rng.bytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export type Door = 'curated' | 'comfy';

export type Hostile =
  | { kind: 'http'; door: Door; method: string; path: string; headers: Record<string, string>; body?: Buffer }
  /** Written as is on a raw connection (broken framing, lies about lengths), then the socket ends. */
  | { kind: 'raw'; door: Door; data: Buffer }
  | { kind: 'ws'; door: Door; path: string; frames: (Buffer | string)[] };

const CURATED_ROUTES: [string, string][] = [
  ['GET', '/workflow-list'],
  ['GET', '/workflow-info'],
  ['POST', '/upload'],
  ['POST', '/generate-based-workflow'],
  ['GET', '/execution-info'],
  ['GET', '/history'],
  ['POST', '/interrupt'],
  ['POST', '/free'],
  ['GET', '/generation-count'],
  ['GET', '/admin/webhooks'],
  ['GET', '/admin/webhooks/x'],
  ['POST', '/admin/webhooks/x/redeliver'],
  ['GET', '/openapi.json'],
  ['GET', '/docs/swagger-ui.css'],
];

/** Webhook-Url values: garbage, refused addresses, and names that never answer. */
const WEBHOOK_URLS = ['http://127.0.0.1:1/x', 'http://[::1]/x', 'http://169.254.169.254/', 'https://u:p@example.com/', 'https://hooks.invalid/x', 'http://localhost:1/', 'ftp://x/'];

const COMFY_ROUTES: [string, string][] = [
  ['POST', '/prompt'],
  ['GET', '/prompt'],
  ['GET', '/queue'],
  ['POST', '/queue'],
  ['GET', '/history'],
  ['POST', '/history'],
  ['GET', '/history/x'],
  ['POST', '/interrupt'],
  ['POST', '/free'],
  ['GET', '/view'],
  ['POST', '/upload/image'],
  ['POST', '/upload/mask'],
  ['GET', '/object_info'],
  ['GET', '/object_info/KSampler'],
  ['GET', '/embeddings'],
  ['GET', '/models'],
  ['GET', '/models/checkpoints'],
  ['GET', '/features'],
  ['GET', '/system_stats'],
  ['GET', '/api/queue'],
  ['POST', '/api/prompt'],
  ['GET', '/api/jobs'],
  ['GET', '/api/jobs/x'],
  ['POST', '/api/jobs/x/cancel'],
  ['POST', '/api/jobs/cancel'],
  ['GET', '/openapi.json'],
  ['GET', '/docs/x'],
];

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b.png',
  '../../../../etc/passwd',
  '..',
  '%2e%2e/%2e%2e/secret',
  '/absolute/path.png',
  'C:\\windows\\win.ini',
  '\u202e\u0000\uffff',
  '😀'.repeat(50),
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs; --",
  '${process.exit()}',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e309',
  'x'.repeat(300),
];

function randomString(rng: Rng): string {
  if (rng.chance(0.5)) return rng.pick(NASTY_STRINGS);
  const n = rng.pick([1, 8, 40, 257, 1025, 5000]);
  // Up to 64 random characters, repeated to the length asked.
  let unit = '';
  for (let i = 0; i < Math.min(n, 64); i++) {
    const code = rng.chance(0.9) ? rng.int(32, 126) : rng.int(0, 0xfffd);
    // Lone surrogates cannot be sent in a URL; any other code point can.
    unit += String.fromCharCode(code >= 0xd800 && code <= 0xdfff ? 0xfffd : code);
  }
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 3 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 2 ** 53, -(2 ** 63), 1e308, 0.5, -0.0, 4294967296]);
    case 3:
    case 4:
      return randomString(rng);
    case 5:
      return rng.int(-1000, 100000);
    case 6:
      return Array.from({ length: rng.int(0, 5) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 5); i > 0; i--) o[randomString(rng).slice(0, 40)] = randomValue(rng, depth + 1);
      return o;
    }
  }
}

/** A body that is nested `depth` levels deep. */
export function deepJson(depth: number, object: boolean): string {
  return object ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + ']'.repeat(depth);
}

/** Plausible bodies with one or more fields made wrong: what a buggy or malicious client sends. */
function mutatedBody(rng: Rng, door: Door, path: string): unknown {
  if (door === 'curated' && path === '/generate-based-workflow') {
    const body: Record<string, unknown> = { workflow: rng.pick(['invert', 'txt2img', 'img2img', 'sleep.json', 'nope', 42]) };
    for (const key of ['1/color', '1/width', '3/steps', '3/seed', '6/text', '1/image', '2/seconds', 'x/y']) {
      if (rng.chance(0.4)) body[key] = randomValue(rng);
    }
    return body;
  }
  if (door === 'comfy' && path.endsWith('/prompt')) {
    const node = (cls: unknown, inputs: unknown) => ({ class_type: cls, inputs });
    const prompt: Record<string, unknown> = {
      '1': node(rng.pick(['EmptyImage', 'KSampler', 'NoSuchNode', 7]), { width: randomValue(rng), height: 64, batch_size: 1, color: randomValue(rng) }),
      '2': node('SaveImage', { images: rng.pick([['1', 0], ['9', 0], 'x', null]), filename_prefix: rng.chance(0.1) ? 'p'.repeat(rng.pick([1025, 70000])) : randomValue(rng) }),
    };
    if (rng.chance(0.2)) prompt[randomString(rng).slice(0, 20)] = randomValue(rng);
    return {
      prompt: rng.chance(0.9) ? prompt : randomValue(rng),
      client_id: rng.chance(0.7) ? randomString(rng) : randomValue(rng),
      prompt_id: rng.chance(0.3) ? randomValue(rng) : undefined,
      number: rng.chance(0.2) ? randomValue(rng) : undefined,
      front: rng.chance(0.2) ? randomValue(rng) : undefined,
      extra_data: rng.chance(0.2) ? randomValue(rng) : undefined,
      partial_execution_targets: rng.chance(0.1) ? randomValue(rng) : undefined,
    };
  }
  if (door === 'comfy' && path.endsWith('/jobs/cancel')) {
    return rng.pick([{ job_ids: randomValue(rng) }, { job_ids: [uuidOf(rng), randomValue(rng)] }, randomValue(rng)]);
  }
  if (door === 'comfy' && (path.endsWith('/queue') || path.endsWith('/history'))) {
    return rng.pick([{ delete: randomValue(rng) }, { clear: randomValue(rng) }, randomValue(rng)]);
  }
  return randomValue(rng);
}

function randomQuery(rng: Rng): string {
  const params = new URLSearchParams();
  for (let i = rng.int(0, 4); i > 0; i--) {
    params.append(rng.pick(['clientId', 'clientId', 'workflow', 'filename', 'subfolder', 'type', 'preview', 'max_items', 'offset', 'token', 'status', 'sort_by', 'sort_order', 'limit', 'workflow_id', 'x']), randomString(rng));
  }
  const q = params.toString();
  return q ? `?${q}` : '';
}

function multipart(rng: Rng): { body: Buffer; contentType: string } {
  const boundary = `----fuzz${rng.int(0, 1e9)}`;
  const chunks: Buffer[] = [];
  const parts = rng.pick([0, 1, 2, 50, 1000]);
  for (let i = 0; i < parts; i++) {
    const filename = rng.chance(0.3) ? randomString(rng).replace(/["\r\n]/g, '') : `f${i}.png`;
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${rng.pick(['image', 'file', 'img', 'subfolder', 'overwrite', 'x'])}"; filename="${filename}"\r\n`;
    if (rng.chance(0.7)) head += `Content-Type: ${rng.pick(['image/png', 'image/jpeg', 'text/plain', 'application/octet-stream', ''])}\r\n`;
    if (rng.chance(0.2)) head += `ori_file_id: ${randomString(rng).replace(/[\r\n]/g, '')}\r\n`;
    if (rng.chance(0.05)) head += `X-Huge: ${'h'.repeat(100_000)}\r\n`;
    const data = rng.pick([
      Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
      Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\rIHDR', 'latin1'), rng.bytes(20)]),
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]),
      rng.bytes(rng.int(0, 2048)),
      Buffer.from('GIF89a', 'latin1'),
    ]);
    chunks.push(Buffer.from(`${head}\r\n`, 'latin1'), data, Buffer.from('\r\n'));
  }
  if (rng.chance(0.8)) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  let body = Buffer.concat(chunks);
  if (rng.chance(0.2)) body = body.subarray(0, rng.int(0, body.length)); // cut short
  const contentType = rng.pick([`multipart/form-data; boundary=${boundary}`, 'multipart/form-data', `multipart/form-data; boundary=wrong`, 'image/png']);
  return { body, contentType };
}

function rawRequest(rng: Rng, path: string): Buffer {
  switch (rng.int(0, 4)) {
    case 0: // a body shorter than it claims
      return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"prompt":`);
    case 1: // broken chunked encoding
      return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n`);
    case 2: // header garbage
      return Buffer.concat([Buffer.from(`GET ${path} HTTP/1.1\r\n`), rng.bytes(rng.int(1, 300)), Buffer.from('\r\n\r\n')]);
    case 3: // a request line that never ends
      return Buffer.from(`GET /${'a'.repeat(rng.int(10, 20000))}`);
    default: // both lengths at once (request smuggling)
      return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /queue HTTP/1.1\r\n\r\n`);
  }
}

/** The i-th hostile request of a run. */
export function hostile(rng: Rng): Hostile {
  const door: Door = rng.chance(0.45) ? 'curated' : 'comfy';
  const routes = door === 'curated' ? CURATED_ROUTES : COMFY_ROUTES;
  const [method, path] = rng.pick(routes);
  const roll = rng.next();
  if (roll < 0.04) return { kind: 'raw', door, data: rawRequest(rng, path) };
  if (roll < 0.09) {
    const frames: (Buffer | string)[] = [];
    for (let i = rng.int(0, 4); i > 0; i--) frames.push(rng.chance(0.5) ? JSON.stringify(randomValue(rng)) : rng.bytes(rng.int(1, 200)));
    if (rng.chance(0.1)) frames.push(Buffer.alloc(rng.pick([70_000, 2_000_000])));
    const id = rng.chance(0.3) ? '' : `clientId=${encodeURIComponent(randomString(rng))}`;
    return { kind: 'ws', door, path: `/ws?${id}${rng.chance(0.2) ? `&clientId=second` : ''}`, frames };
  }
  const headers: Record<string, string> = {};
  let body: Buffer | undefined;
  let target = path;
  let verb = method;
  if (roll < 0.14) {
    verb = rng.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO']);
  } else if (roll < 0.2) {
    target = rng.pick([
      `/view?filename=${encodeURIComponent(rng.pick(NASTY_STRINGS))}&type=${rng.pick(['output', 'input', 'temp', 'x'])}&subfolder=${encodeURIComponent(rng.pick(NASTY_STRINGS))}`,
      '/models/..',
      '/models/%2e%2e',
      `/models/${encodeURIComponent(randomString(rng))}`,
      `/history/${encodeURIComponent(randomString(rng))}`,
      `/object_info/${encodeURIComponent(randomString(rng))}`,
      '//queue',
      '/api/../queue',
      `/${encodeURIComponent(randomString(rng))}`,
    ]);
    if (door === 'curated') target = rng.pick(['/workflow-info?workflow=../../etc/passwd', `/workflow-info?workflow=${encodeURIComponent(randomString(rng))}`, '/upload/../history', `/${encodeURIComponent(randomString(rng))}`]);
    verb = rng.pick(['GET', 'POST']);
  } else if (path.startsWith('/upload')) {
    const form = multipart(rng);
    headers['content-type'] = form.contentType;
    body = form.body;
  } else if (method === 'POST') {
    const shape = rng.next();
    if (shape < 0.05) body = Buffer.from(deepJson(rng.pick([1000, 10_000, 100_000]), rng.chance(0.5)));
    else if (shape < 0.06) body = Buffer.from(JSON.stringify({ prompt: { '1': { class_type: 'SaveImage', inputs: { filename_prefix: 'z'.repeat(rng.int(2, 6) * 1024 * 1024) } } } }));
    else if (shape < 0.15) body = rng.bytes(rng.int(0, 4096));
    else if (shape < 0.2) body = Buffer.alloc(0);
    else body = Buffer.from(JSON.stringify(mutatedBody(rng, door, path)) ?? 'null');
    headers['content-type'] = rng.pick(['application/json', 'application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
    if (rng.chance(0.05)) delete headers['content-type'];
  }
  const query = rng.chance(0.5) ? randomQuery(rng) : '';
  if (query) target += (target.includes('?') ? '&' : '?') + query.slice(1);
  if (rng.chance(0.05)) headers.authorization = `Bearer ${randomString(rng).replace(/[^\x20-\x7e]/g, 'x')}`;
  if (door === 'curated' && rng.chance(0.1)) headers['webhook-url'] = rng.chance(0.5) ? rng.pick(WEBHOOK_URLS) : randomString(rng).replace(/[^\x20-\x7e]/g, 'x');
  return { kind: 'http', door, method: verb, path: target, headers, body };
}
