// Naming a backend: URLs with Basic credentials, BACKENDS_FILE entries and POST /admin/backends
// bodies, every problem reported, no problem quoting a credential.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { authorizationOf, hideCredentials, parseAddress } from '../../src/comfy/address.js';
import { backendId, parseBackendSpec } from '../../src/engine/backend-spec.js';
import { ConfigError, loadConfig, parseServer } from '../../src/config.js';

const SECRET = 'Secr3t-pw';

function problemOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('parseAddress', () => {
  test.each([
    ['gpu1:8188', { url: 'http://gpu1:8188' }],
    [`user:${SECRET}@gpu1:8188`, { url: 'http://gpu1:8188', credentials: { username: 'user', password: SECRET } }],
    [`https://user:${SECRET}@gpu1.example.com:443/`, { url: 'https://gpu1.example.com', credentials: { username: 'user', password: SECRET } }],
    ['http://us%40er:p%40ss%3Aw%2Fd@[::1]:8188', { url: 'http://[::1]:8188', credentials: { username: 'us@er', password: 'p@ss:w/d' } }],
    ['http://:only-a-password@gpu1:8188', { url: 'http://gpu1:8188', credentials: { username: '', password: 'only-a-password' } }],
    ['http://user:p@ss@gpu1:8188', { url: 'http://gpu1:8188', credentials: { username: 'user', password: 'p@ss' } }],
  ])('%s', (entry, address) => {
    expect(parseAddress(entry)).toEqual({ ok: true, address });
  });

  test.each([
    [`token-${SECRET}@gpu1:8188`, 'user:password (Basic)'],
    ['http://:@gpu1:8188', 'empty'],
    [`http://user:${SECRET}%zz@gpu1:8188`, 'percent-encoding'],
    [`http://user:${SECRET}@gpu1`, 'is not host:port'],
    [`ftp://user:${SECRET}@gpu1:21`, 'is not host:port'],
    [`user:${SECRET}@gpu1:8188/path`, 'is not host:port'],
  ])('%s is refused (%s), without quoting the credentials', (entry, why) => {
    const parsed = parseAddress(entry);
    expect(parsed.ok).toBe(false);
    const problem = (parsed as { problem: string }).problem;
    expect(problem).toContain(why);
    expect(problem).not.toContain(SECRET);
    expect(problem).toContain('***@');
  });

  test('hideCredentials hides what is before @ in the authority only', () => {
    expect(hideCredentials(`https://u:${SECRET}@h:1/a@b`)).toBe('https://***@h:1/a@b');
    expect(hideCredentials('h:1')).toBe('h:1');
    expect(hideCredentials(`u:${SECRET}@h:1`)).toBe('***@h:1');
  });

  test('Authorization headers', () => {
    expect(authorizationOf({ token: 'abc' })).toBe('Bearer abc');
    expect(authorizationOf({ username: 'u', password: 'p:w' })).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
  });

  test('parseServer keeps its answers and leaves credentials out', () => {
    expect(parseServer('gpu1:8188')).toBe('http://gpu1:8188');
    expect(parseServer(`u:${SECRET}@gpu1:8188`)).toBe('http://gpu1:8188');
    expect(parseServer('u@gpu1:8188')).toBeUndefined();
  });
});

describe('parseBackendSpec', () => {
  test('url, labels and credentials in their three forms', () => {
    expect(parseBackendSpec({ url: 'gpu1:8188' }, 'x')).toEqual({ spec: { url: 'http://gpu1:8188', labels: [] }, problems: [] });
    expect(parseBackendSpec({ url: 'gpu1:8188', labels: ['sdxl', 'sdxl', 'v2.1'], token: 'T0k' }, 'x').spec).toEqual({ url: 'http://gpu1:8188', labels: ['sdxl', 'v2.1'], credentials: { token: 'T0k' } });
    expect(parseBackendSpec({ url: 'gpu1:8188', username: 'u', password: SECRET }, 'x').spec?.credentials).toEqual({ username: 'u', password: SECRET });
    expect(parseBackendSpec({ url: `u:${SECRET}@gpu1:8188` }, 'x').spec?.credentials).toEqual({ username: 'u', password: SECRET });
    expect(backendId('http://gpu1:8188')).toMatch(/^[0-9a-f]{12}$/);
    expect(backendId('http://gpu1:8188')).toBe(backendId(parseBackendSpec({ url: `u:${SECRET}@GPU1:8188/` }, 'x').spec!.url));
  });

  test('every problem at once, none quoting a credential', () => {
    const { spec, problems } = parseBackendSpec({ url: `u:${SECRET}@gpu1`, labels: ['ok', '-bad'], token: SECRET, password: SECRET, extra: 1 }, 'entry 3');
    expect(spec).toBeUndefined();
    expect(problems).toHaveLength(4);
    expect(problems.every((p) => p.startsWith('entry 3: '))).toBe(true);
    expect(problems.join('\n')).toMatch(/unknown field "extra"[\s\S]*"url"[\s\S]*not both[\s\S]*label "-bad"/);
    expect(problems.join('\n')).not.toContain(SECRET);
  });

  test.each([
    ['not an object', 'gpu1:8188', 'must be an object'],
    ['no url', { labels: [] }, '"url" is required'],
    ['a token with a space', { url: 'gpu1:8188', token: 'a b' }, 'visible ASCII'],
    ['a password without a username', { url: 'gpu1:8188', password: SECRET }, '"username" and "password"'],
    ['a colon in the username', { url: 'gpu1:8188', username: 'a:b', password: SECRET }, 'cannot contain ":"'],
    ['a line break in the password', { url: 'gpu1:8188', username: 'a', password: `${SECRET}\r\nX: y` }, 'control characters'],
    ['credentials twice', { url: `u:${SECRET}@gpu1:8188`, token: 'T' }, 'given twice'],
    ['labels not a list', { url: 'gpu1:8188', labels: 'sdxl' }, 'a list of labels'],
  ])('%s', (_what, value, problem) => {
    const { spec, problems } = parseBackendSpec(value, 'x');
    expect(spec).toBeUndefined();
    expect(problems.join('\n')).toContain(problem);
    expect(problems.join('\n')).not.toContain(SECRET);
  });
});

describe('the initial pool in the settings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'backends-file-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const file = async (name: string, text: string) => {
    const p = path.join(dir, name);
    await writeFile(p, text);
    return p;
  };

  test('COMFYUI_SERVERS with credentials: the URLs are shown without them', () => {
    const config = loadConfig({ COMFYUI_SERVERS: `gpu1:8188,https://u:${SECRET}@gpu2:8443` });
    expect(config.comfyServers).toEqual(['http://gpu1:8188', 'https://gpu2:8443']);
    expect(config.backends).toEqual([
      { url: 'http://gpu1:8188', labels: [] },
      { url: 'https://gpu2:8443', labels: [], credentials: { username: 'u', password: SECRET } },
    ]);
    expect(config.poolFromEnv).toBe(false);
  });

  test('a bad COMFYUI_SERVERS entry is named without its credentials', () => {
    const message = problemOf({ COMFYUI_SERVERS: `gpu1:8188,http://u:${SECRET}@gpu2` });
    expect(message).toContain('COMFYUI_SERVERS entry "http://***@gpu2"');
    expect(message).not.toContain(SECRET);
  });

  test('BACKENDS_FILE joins COMFYUI_SERVERS; without COMFYUI_SERVERS there is no default server', async () => {
    const list = await file('pool.json', JSON.stringify([{ url: 'gpu3:8188', token: SECRET, labels: ['video'] }, { url: 'gpu4:8188', username: 'u', password: SECRET }]));
    expect(loadConfig({ BACKENDS_FILE: list }).backends.map((b) => b.url)).toEqual(['http://gpu3:8188', 'http://gpu4:8188']);
    const both = loadConfig({ BACKENDS_FILE: list, COMFYUI_SERVERS: 'gpu1:8188' });
    expect(both.backends.map((b) => [b.url, b.labels, b.credentials])).toEqual([
      ['http://gpu1:8188', [], undefined],
      ['http://gpu3:8188', ['video'], { token: SECRET }],
      ['http://gpu4:8188', [], { username: 'u', password: SECRET }],
    ]);
    expect(both.comfyServers).toEqual(['http://gpu1:8188', 'http://gpu3:8188', 'http://gpu4:8188']);
  });

  test('BACKENDS_FILE problems: every entry named, nothing quoted from the file', async () => {
    const bad = await file('bad.json', JSON.stringify([{ url: 'gpu3' }, { url: 'gpu4:8188', token: `${SECRET} x` }, 'gpu5:8188']));
    const message = problemOf({ BACKENDS_FILE: bad });
    expect(message).toContain(`BACKENDS_FILE (${bad}) entry 1: "url"`);
    expect(message).toContain('entry 2: "token"');
    expect(message).toContain('entry 3 must be an object');
    expect(message).not.toContain(SECRET);
    const broken = await file('broken.json', `[{"url": "gpu3:8188", "token": ${SECRET}}]`);
    const notJson = problemOf({ BACKENDS_FILE: broken });
    expect(notJson).toContain('is not valid JSON');
    expect(notJson).not.toContain(SECRET);
    expect(problemOf({ BACKENDS_FILE: await file('obj.json', '{}') })).toContain('must be a JSON list');
    expect(problemOf({ BACKENDS_FILE: path.join(dir, 'missing.json') })).toContain('cannot be read: ENOENT');
    expect(problemOf({ BACKENDS_FILE: await file('empty.json', '[]') })).toContain('COMFYUI_SERVERS and BACKENDS_FILE name no server');
  });

  test('the same server in both is an error', async () => {
    const list = await file('dupe.json', JSON.stringify([{ url: 'http://gpu1:8188/', token: 'T' }]));
    expect(problemOf({ BACKENDS_FILE: list, COMFYUI_SERVERS: 'gpu1:8188' })).toContain('COMFYUI_SERVERS and BACKENDS_FILE list http://gpu1:8188 more than once');
  });

  test('POOL_FROM_ENV', () => {
    expect(loadConfig({ POOL_FROM_ENV: 'true' }).poolFromEnv).toBe(true);
    expect(loadConfig({ POOL_FROM_ENV: '0' }).poolFromEnv).toBe(false);
    expect(problemOf({ POOL_FROM_ENV: 'maybe' })).toContain('POOL_FROM_ENV="maybe" is not true or false');
  });
});
