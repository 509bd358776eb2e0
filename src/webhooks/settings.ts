// The webhook settings: signing secrets, per-key default URLs, the guard, and the bounds of
// delivery. Read by src/config.ts, which stops start-up on any problem found here.
import { Webhook } from 'standardwebhooks';
import type { AddressPolicy } from './address-guard.js';
import { parseAllowPrivate } from './address-guard.js';
import { checkWebhookUrl } from './url.js';

/** A per-key entry naming every key without one of its own (and the one space of an open bridge). */
export const ANY_KEY = '*';

export interface WebhookSettings {
  /** The signing secret (whsec_ + base64) of keys without their own; undefined: none. */
  secret: string | undefined;
  /** Per API key name: its own signing secret. */
  secrets: Record<string, string>;
  /** Per API key name (or ANY_KEY): the URL its jobs report to when they name none. */
  urls: Record<string, string>;
  /** Where deliveries may connect besides public addresses. */
  addresses: AddressPolicy;
  /** How long a delivery is retried, from its event (or from an operator's redelivery). */
  retryWindowMs: number;
  /** One attempt, connecting included, must be answered within this. */
  timeoutMs: number;
  /** Deliveries under way at once. */
  concurrency: number;
  /** How long delivered and dead deliveries are kept. */
  retentionMs: number;
  /** Most delivered and dead deliveries kept; the oldest go first. */
  maxKept: number;
}

type Env = Record<string, string | undefined>;

/** A Standard Webhooks secret: whsec_ and the base64 of 24 to 64 random bytes. */
export function secretProblem(name: string, value: string): string | undefined {
  const m = value.match(/^whsec_([A-Za-z0-9+/]+={0,2})$/);
  const bytes = m ? Buffer.from(m[1], 'base64') : undefined;
  if (!m || !bytes || bytes.toString('base64') !== m[1]) return `${name} is not whsec_ followed by base64 (e.g. whsec_$(openssl rand -base64 32))`;
  if (bytes.length < 24 || bytes.length > 64) return `${name} holds ${bytes.length} bytes; use 24 to 64 random bytes (openssl rand -base64 32)`;
  try {
    new Webhook(value);
  } catch (err) {
    return `${name} is not a usable signing secret: ${(err as Error).message}`;
  }
  return undefined;
}

/** `name:value` entries, comma-separated; the name is an API key's name or `*` where allowed. */
function perKey(env: Env, setting: string, keyNames: readonly string[], anyKey: boolean, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of (env[setting] ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    const name = colon < 0 ? '' : entry.slice(0, colon).trim();
    const value = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (name === '' || value === '') {
      problems.push(`${setting} entry ${JSON.stringify(entry.slice(0, 40))} is not name:value (the name of an API key${anyKey ? ', or * for every key' : ''})`);
      continue;
    }
    if (!(anyKey && name === ANY_KEY) && !keyNames.includes(name)) {
      problems.push(`${setting} names ${JSON.stringify(name.slice(0, 64))}, which is no API key's name (API_KEYS=name:key)${anyKey ? '; * names every key' : ''}`);
      continue;
    }
    if (name in out) problems.push(`${setting} names ${JSON.stringify(name)} twice`);
    out[name] = value;
  }
  return out;
}

/**
 * The webhook settings that are not plain numbers (config.ts reads those): secrets, per-key URLs
 * and the address guard. Problems are pushed in words that name the setting.
 */
export function parseWebhookSettings(env: Env, keyNames: readonly string[], problems: string[]): Pick<WebhookSettings, 'secret' | 'secrets' | 'urls' | 'addresses'> {
  const secret = env.WEBHOOK_SECRET?.trim() || undefined;
  if (secret !== undefined) {
    const p = secretProblem('WEBHOOK_SECRET', secret);
    if (p) problems.push(p);
  }
  const secrets = perKey(env, 'WEBHOOK_SECRETS', keyNames, false, problems);
  for (const [name, value] of Object.entries(secrets)) {
    const p = secretProblem(`WEBHOOK_SECRETS entry for ${name}`, value);
    if (p) problems.push(p);
  }
  const { policy: addresses, problems: guard } = parseAllowPrivate(env.WEBHOOK_ALLOW_PRIVATE);
  problems.push(...guard);
  const urls = perKey(env, 'WEBHOOKS', keyNames, true, problems);
  for (const [name, url] of Object.entries(urls)) {
    const p = checkWebhookUrl(url, addresses);
    if (p) problems.push(`WEBHOOKS entry for ${name}: ${p}`);
    else if (secret === undefined && (name === ANY_KEY ? keyNames.some((k) => !(k in secrets)) || keyNames.length === 0 : !(name in secrets))) {
      problems.push(`WEBHOOKS names a URL for ${name === ANY_KEY ? 'every key' : name}, but there is no secret to sign with: set WEBHOOK_SECRET${name === ANY_KEY ? '' : ` or WEBHOOK_SECRETS=${name}:whsec_…`}`);
    }
  }
  return { secret, secrets, urls, addresses };
}

/** The secret that signs a tenant's deliveries, if any. */
export function secretOf(settings: Pick<WebhookSettings, 'secret' | 'secrets'>, tenant: string): string | undefined {
  return (Object.hasOwn(settings.secrets, tenant) ? settings.secrets[tenant] : undefined) ?? settings.secret;
}
