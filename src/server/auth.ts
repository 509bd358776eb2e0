// Locked doors: API keys for clients, an admin token for operator actions, and CORS.
// With neither key nor token configured the bridge is open, and says so once at start-up.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import type { Config } from '../config.js';
import { ClientError } from '../engine/errors.js';
import { corsFor } from '../http/cors.js';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time membership: compare digests so neither content nor length leaks. */
function matches(candidate: string | undefined, secrets: readonly Buffer[]): boolean {
  if (!candidate) return false;
  const d = digest(candidate);
  let hit = false;
  for (const s of secrets) hit = timingSafeEqual(d, s) || hit;
  return hit;
}

export class Doors {
  private readonly keys: Buffer[];
  private readonly admin: Buffer[];

  constructor(private readonly config: Pick<Config, 'apiKeys' | 'adminToken' | 'corsOrigins'>) {
    this.keys = config.apiKeys.map(digest);
    this.admin = config.adminToken ? [digest(config.adminToken)] : [];
  }

  get open(): boolean {
    return this.keys.length === 0 && this.admin.length === 0;
  }

  /** May this request use the client API? The admin token opens it too. */
  clientAllowed(token: string | undefined): boolean {
    if (this.keys.length === 0) return true;
    return matches(token, this.keys) || matches(token, this.admin);
  }

  adminAllowed(token: string | undefined): boolean {
    if (this.admin.length === 0) return true;
    return matches(token, this.admin);
  }

  /** Koa middleware: 401 without a valid key. */
  requireClient() {
    return async (ctx: Context, next: Next) => {
      const credential = bearer(ctx.get('authorization')) ?? (ctx.get('x-admin-token') || undefined);
      if (ctx.method !== 'OPTIONS' && !this.clientAllowed(credential)) {
        ctx.set('WWW-Authenticate', 'Bearer');
        throw new ClientError(401, 'an API key is required: send Authorization: Bearer <key>');
      }
      await next();
    };
  }

  /** Throw 403 unless the request carries the admin token (header X-Admin-Token or Bearer). */
  requireAdmin(ctx: Context): void {
    const token = ctx.get('x-admin-token') || bearer(ctx.get('authorization'));
    if (!this.adminAllowed(token)) throw new ClientError(403, 'this operator action needs the admin token: send X-Admin-Token: <token>');
  }

  /** The key of a websocket upgrade: Authorization header, or ?token= for browsers. */
  upgradeAllowed(req: IncomingMessage, url: URL): boolean {
    const header = req.headers.authorization;
    return this.clientAllowed(bearer(typeof header === 'string' ? header : undefined) ?? url.searchParams.get('token') ?? undefined);
  }

  /** CORS for the allowlisted origins only. */
  cors() {
    return corsFor(this.config.corsOrigins);
  }
}

function bearer(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}
