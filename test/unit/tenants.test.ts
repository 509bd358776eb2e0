import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, keyDigestName, parseApiKeys } from '../../src/engine/tenants.js';
import { loadConfig } from '../../src/config.js';

const A = 'alice-key-0000000001';
const B = 'bob-key-000000000002';
const ADMIN = 'admin-token-00000003';

describe('parseApiKeys', () => {
  test('plain keys are named by a digest that does not contain the key', () => {
    const { keys, problems } = parseApiKeys([A, ` ${B} `], 'API_KEYS');
    expect(problems).toEqual([]);
    expect(keys.map((k) => k.key)).toEqual([A, B]);
    expect(keys[0].name).toBe(keyDigestName(A));
    expect(keys[0].name).toMatch(/^key-[0-9a-f]{12}$/);
    expect(keys[0].name).not.toContain(A.slice(0, 8));
  });

  test('name:key names the tenant', () => {
    const { keys, problems } = parseApiKeys([`alice:${A}`, `bob : ${B}`], 'API_KEYS');
    expect(problems).toEqual([]);
    expect(keys).toEqual([
      { name: 'alice', key: A },
      { name: 'bob', key: B },
    ]);
  });

  test('every problem is reported, naming the source', () => {
    const { problems } = parseApiKeys(['short', `bad name:${A}`, `x:${B}`, `y:${B}`, `x:${'z'.repeat(20)}`], 'API_KEYS');
    expect(problems).toHaveLength(4);
    expect(problems.every((p) => p.startsWith('API_KEYS'))).toBe(true);
    expect(problems.join('\n')).toContain('shorter than 16');
    expect(problems.join('\n')).toContain('"bad name"');
    expect(problems.join('\n')).toContain('same key twice');
    expect(problems.join('\n')).toContain('names two keys "x"');
  });

  test('comments and blank lines are skipped (keys files)', () => {
    expect(parseApiKeys(['# team keys', '', `alice:${A}`], 'f').keys).toEqual([{ name: 'alice', key: A }]);
  });
});

describe('Keyring', () => {
  test('with keys, each key is its tenant and anything else is refused', () => {
    const ring = new Keyring([{ name: 'alice', key: A }, { name: 'bob', key: B }], ADMIN);
    expect(ring.principal(A)).toEqual({ tenant: 'alice', admin: false });
    expect(ring.principal(B)).toEqual({ tenant: 'bob', admin: false });
    expect(ring.principal(undefined)).toBeUndefined();
    expect(ring.principal('alice')).toBeUndefined();
    expect(ring.principal(A + 'x')).toBeUndefined();
    expect(ring.principal(ADMIN)).toEqual({ tenant: '', admin: true });
    expect(ring.isAdmin(A)).toBe(false);
    expect(ring.isAdmin(ADMIN)).toBe(true);
  });

  test('without keys the client API is one open space; the admin token still guards operator rights', () => {
    const ring = new Keyring([], ADMIN);
    expect(ring.principal(undefined)).toEqual({ tenant: '', admin: false });
    expect(ring.principal('anything')).toEqual({ tenant: '', admin: false });
    expect(ring.principal(ADMIN)).toEqual({ tenant: '', admin: true });
    expect(ring.isAdmin(undefined)).toBe(false);
  });

  test('with neither, everyone is the operator of one open space', () => {
    const ring = new Keyring([], undefined);
    expect(ring.principal(undefined)).toEqual({ tenant: '', admin: true });
    expect(ring.isAdmin(undefined)).toBe(true);
  });
});

describe('API_KEYS_FILE', () => {
  const base = { COMFYUI_SERVERS: '127.0.0.1:8188' };

  test('keys from the file join those of API_KEYS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `# keys\nbob:${B}\n`);
    const config = loadConfig({ ...base, API_KEYS: `alice:${A}`, API_KEYS_FILE: file });
    expect(config.apiKeys).toEqual([
      { name: 'alice', key: A },
      { name: 'bob', key: B },
    ]);
  });

  test('an unreadable file or a clash stops start-up, naming the setting', () => {
    expect(() => loadConfig({ ...base, API_KEYS_FILE: '/nonexistent/keys' })).toThrow(/API_KEYS_FILE="\/nonexistent\/keys" cannot be read/);
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `alice:${B}\n`);
    expect(() => loadConfig({ ...base, API_KEYS: `alice:${A}`, API_KEYS_FILE: file })).toThrow(/names two keys "alice"/);
  });
});
