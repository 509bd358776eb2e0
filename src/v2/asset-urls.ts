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
/** How long a secret another process claimed may take to reach this one. */
const ARRIVAL_MS = 10_000;

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
      if (!secrets.has(URL_SECRET)) {
        // Listening before claiming: a claim lost to another process means its record is on its way.
        const arrival = this.arrival();
        try {
          if (!(await secrets.claim(URL_SECRET, randomBytes(32).toString('base64url'))) && !secrets.has(URL_SECRET)) await arrival.done;
        } finally {
          arrival.stop();
        }
      }
      return Buffer.from(secrets.get(URL_SECRET)!, 'base64url');
    })();
    // A failed claim (the store away) is tried again next time.
    this.secret.catch(() => (this.secret = undefined));
    return this.secret;
  }

  /** Resolves once the secret's record is held here; stop() when no longer waited for. */
  private arrival(): { done: Promise<void>; stop: () => void } {
    let stop = () => {};
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the content URL secret claimed by another process did not arrive')), ARRIVAL_MS);
      const unsubscribe = this.engine.onRecord((collection, id, value) => {
        if (collection === SECRETS && id === URL_SECRET && value !== undefined) resolve();
      });
      stop = () => {
        clearTimeout(timer);
        unsubscribe();
      };
    });
    done.catch(() => undefined);
    return { done, stop };
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
