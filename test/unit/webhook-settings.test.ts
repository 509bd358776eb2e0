// Webhook settings as loadConfig reads them, the URL rules, and what a door gets at submission.
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/config.js';
import { OPEN } from '../../src/engine/tenants.js';
import { GUARDED, parseAllowPrivate } from '../../src/webhooks/address-guard.js';
import { webhookTables, WebhookUrlError } from '../../src/webhooks/target.js';
import { checkWebhookUrl } from '../../src/webhooks/url.js';

const secret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;
const KEYS = 'alice:alice-key-0123456789,bob:bob-key-0123456789ab';

function problem(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('loadConfig: webhooks', () => {
  test('defaults: no secret, guard on, a day of retries', () => {
    const { webhooks } = loadConfig({});
    expect(webhooks).toMatchObject({ secret: undefined, secrets: {}, urls: {}, addresses: GUARDED, retryWindowMs: 86_400_000, timeoutMs: 10_000, concurrency: 16, retentionMs: 7 * 86_400_000, maxKept: 10_000 });
  });

  test('a malformed secret stops start-up, naming the setting', () => {
    expect(problem({ WEBHOOK_SECRET: 'hunter2' })).toMatch(/WEBHOOK_SECRET is not whsec_ followed by base64/);
    expect(problem({ WEBHOOK_SECRET: 'whsec_not*base64' })).toMatch(/WEBHOOK_SECRET is not whsec_/);
    expect(problem({ WEBHOOK_SECRET: secret(8) })).toMatch(/WEBHOOK_SECRET holds 8 bytes/);
    expect(problem({ WEBHOOK_SECRET: secret(100) })).toMatch(/WEBHOOK_SECRET holds 100 bytes/);
    const s = secret();
    expect(loadConfig({ WEBHOOK_SECRET: s }).webhooks.secret).toBe(s);
  });

  test('per-key secrets and URLs name configured keys', () => {
    const a = secret();
    const config = loadConfig({ API_KEYS: KEYS, WEBHOOK_SECRETS: `alice:${a}`, WEBHOOKS: 'alice:https://hooks.example.com/a?x=1' });
    expect(config.webhooks.secrets).toEqual({ alice: a });
    expect(config.webhooks.urls).toEqual({ alice: 'https://hooks.example.com/a?x=1' });
    expect(problem({ API_KEYS: KEYS, WEBHOOK_SECRETS: `carol:${a}` })).toMatch(/WEBHOOK_SECRETS names "carol", which is no API key's name/);
    expect(problem({ API_KEYS: KEYS, WEBHOOK_SECRETS: 'alice:nope' })).toMatch(/WEBHOOK_SECRETS entry for alice is not whsec_/);
    expect(problem({ API_KEYS: KEYS, WEBHOOK_SECRET: a, WEBHOOKS: 'https://x.example.com' })).toMatch(/WEBHOOKS entry "https:\/\/x.example.com" is not name:value|WEBHOOKS names "https"/);
  });

  test('a default URL needs a secret to sign with and a usable URL', () => {
    expect(problem({ API_KEYS: KEYS, WEBHOOKS: 'alice:https://h.example.com/' })).toMatch(/no secret to sign with: set WEBHOOK_SECRET or WEBHOOK_SECRETS=alice:/);
    expect(problem({ API_KEYS: KEYS, WEBHOOK_SECRETS: `alice:${secret()}`, WEBHOOKS: '*:https://h.example.com/' })).toMatch(/URL for every key, but there is no secret/);
    expect(problem({ WEBHOOK_SECRET: secret(), WEBHOOKS: '*:ftp://h.example.com/' })).toMatch(/WEBHOOKS entry for \*: the webhook URL must be http/);
    expect(problem({ WEBHOOK_SECRET: secret(), WEBHOOKS: '*:http://127.0.0.1:9/' })).toMatch(/127\.0\.0\.1 is loopback/);
    expect(loadConfig({ WEBHOOK_SECRET: secret(), WEBHOOKS: '*:http://127.0.0.1:9/', WEBHOOK_ALLOW_PRIVATE: '1' }).webhooks.urls).toEqual({ '*': 'http://127.0.0.1:9/' });
  });

  test('numbers are bounded', () => {
    expect(problem({ WEBHOOK_RETRY_WINDOW: '0' })).toMatch(/WEBHOOK_RETRY_WINDOW/);
    expect(problem({ WEBHOOK_CONCURRENCY: '0' })).toMatch(/WEBHOOK_CONCURRENCY/);
    expect(problem({ WEBHOOK_TIMEOUT: 'soon' })).toMatch(/WEBHOOK_TIMEOUT/);
    expect(loadConfig({ WEBHOOK_RETRY_WINDOW: '2.5', WEBHOOK_TIMEOUT: '0.5' }).webhooks).toMatchObject({ retryWindowMs: 2_500, timeoutMs: 500 });
  });
});

describe('checkWebhookUrl', () => {
  test.each([
    'https://hooks.example.com/comfy',
    'http://hooks.example.com:8080/a/b?token=abc',
    'https://8.8.8.8/x',
    'https://[2606:4700:4700::1111]/x',
  ])('%s is usable', (url) => {
    expect(checkWebhookUrl(url, GUARDED)).toBeUndefined();
  });

  test.each([
    ['/relative', /not an absolute URL/],
    ['mailto:a@example.com', /http:\/\/ or https:\/\//],
    ['https://u:p@example.com/', /credentials/],
    ['https://u@example.com/', /credentials/],
    ['https://example.com/#x', /fragment/],
    ['https://example.com/a b', /spaces or control/],
    ['http://127.1/', /127\.0\.0\.1 is loopback/],
    ['http://2130706433/', /127\.0\.0\.1 is loopback/],
    ['http://[::ffff:169.254.169.254]/', /link-local/],
    [`https://example.com/${'x'.repeat(2048)}`, /at most 2048/],
  ])('%s is refused', (url, reason) => {
    expect(checkWebhookUrl(url, GUARDED)).toMatch(reason);
  });

  test('an allowed private address passes', () => {
    expect(checkWebhookUrl('http://10.0.0.5/x', parseAllowPrivate('10.0.0.0/8').policy)).toBeUndefined();
  });
});

describe('webhookTables', () => {
  const settings = { ...loadConfig({ API_KEYS: KEYS, WEBHOOK_SECRET: secret(), WEBHOOKS: 'alice:https://a.example.com/hook' }).webhooks };
  const alice = { tenant: 'alice', admin: false };
  const bob = { tenant: 'bob', admin: false };

  test('the header names the job webhook; else the key default; else none', () => {
    expect(webhookTables(settings, bob, 'https://b.example.com/x')).toEqual({ webhook: { url: 'https://b.example.com/x' } });
    expect(webhookTables(settings, alice, undefined)).toEqual({ webhook: { url: 'https://a.example.com/hook' } });
    expect(webhookTables(settings, alice, 'https://other.example.com/')).toEqual({ webhook: { url: 'https://other.example.com/' } });
    expect(webhookTables(settings, bob, undefined)).toEqual({});
    expect(webhookTables(settings, bob, '  ')).toEqual({});
  });

  test('a bad header is a WebhookUrlError with the chosen status', () => {
    expect(() => webhookTables(settings, bob, 'nope')).toThrow(WebhookUrlError);
    let thrown: unknown;
    try {
      webhookTables(settings, bob, ['https://a.example.com', 'https://b.example.com'], { status: 422 });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ status: 422, code: 'invalid_webhook_url', detail: expect.stringMatching(/more than once/) });
  });

  test('without a signing secret, naming a webhook is refused', () => {
    const none = loadConfig({}).webhooks;
    expect(() => webhookTables(none, OPEN, 'https://a.example.com/')).toThrow(/no signing secret/);
    expect(webhookTables(none, OPEN, undefined)).toEqual({});
  });
});
