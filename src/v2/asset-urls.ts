// Short-lived content URLs: /api/v2/assets/{id}/content?expires=…&signature=…, which serve the
// bytes without an API key (for a browser, an <img>, a download manager). The signature is an
// HMAC over the id and the expiry with a secret every process of a cluster shares: made once at
// random and claimed in a collection, so whichever process signs, any process can check.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Engine } from '../engine/index.js';

/** How long a content URL works. */
export const URL_TTL_MS = 60 * 60_000;

const SECRETS = 'v2-secrets';
const URL_SECRET = 'asset-urls';

export interface SignedUrl {
  /** Path and query, to put after the bridge's origin. */
  path: string;
  expiresAt: Date;
}

export class AssetUrls {
  private secret: Promise<Buffer> | undefined;

  constructor(private readonly engine: Engine) {}

  /** The cluster's secret: the one some process claimed first. */
  private key(): Promise<Buffer> {
    this.secret ??= (async () => {
      const secrets = this.engine.collection<string>(SECRETS);
      await secrets.claim(URL_SECRET, randomBytes(32).toString('base64url'));
      return Buffer.from(secrets.get(URL_SECRET)!, 'base64url');
    })();
    // A failed claim (the store away) is tried again next time.
    this.secret.catch(() => (this.secret = undefined));
    return this.secret;
  }

  private async signature(id: string, expires: number): Promise<string> {
    return createHmac('sha256', await this.key()).update(`${id}\n${expires}`).digest('base64url');
  }

  /** A URL for this asset's content that works until `now + URL_TTL_MS`. */
  async sign(id: string, now = Date.now()): Promise<SignedUrl> {
    const expires = Math.ceil((now + URL_TTL_MS) / 1000);
    const query = new URLSearchParams({ expires: String(expires), signature: await this.signature(id, expires) });
    return { path: `/api/v2/assets/${encodeURIComponent(id)}/content?${query}`, expiresAt: new Date(expires * 1000) };
  }

  /** Does this signature, made for this id, still hold? */
  async verify(id: string, expires: string, signature: string, now = Date.now()): Promise<boolean> {
    if (!/^\d{1,12}$/.test(expires) || Number(expires) * 1000 <= now) return false;
    const expected = Buffer.from(await this.signature(id, Number(expires)));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
