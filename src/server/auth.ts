// Locked doors: API keys for clients (each names the tenant that owns its work), an admin token
// for operator actions, and CORS. With neither key nor token configured the bridge is open, and
// says so once at start-up.
import type { IncomingMessage } from 'node:http';
import type { Context, Next } from 'koa';
import type { Config } from '../config.js';
import { ClientError } from '../engine/errors.js';
import { corsFor } from '../http/cors.js';
import { Keyring } from '../engine/tenants.js';
import type { Principal } from '../engine/tenants.js';

export class Doors {
  private readonly keyring: Keyring;
  /** METRICS_TOKEN as the one operator secret of a keyring of its own (compared the same way). */
  private readonly metricsKeyring: Keyring | undefined;

  constructor(private readonly config: Pick<Config, 'apiKeys' | 'adminToken' | 'corsOrigins'> & Partial<Pick<Config, 'metricsToken'>>) {
    this.keyring = new Keyring(config.apiKeys, config.adminToken);
    this.metricsKeyring = config.metricsToken ? new Keyring([], config.metricsToken) : undefined;
  }

  get open(): boolean {
    return this.keyring.openClients && this.keyring.openOperator;
  }

  /** Who a credential stands for; undefined when the client API needs a key and this is none. */
  principal(token: string | undefined): Principal | undefined {
    return this.keyring.principal(token);
  }

  adminAllowed(token: string | undefined): boolean {
    return this.keyring.isAdmin(token);
  }

  /** Koa middleware: 401 without a valid key; otherwise the caller is `ctx.state.principal`. */
  requireClient() {
    return async (ctx: Context, next: Next) => {
      const credential = bearer(ctx.get('authorization')) ?? (ctx.get('x-admin-token') || undefined);
      const principal = this.principal(credential);
      if (ctx.method !== 'OPTIONS' && !principal) {
        ctx.set('WWW-Authenticate', 'Bearer');
        throw new ClientError(401, 'an API key is required: send Authorization: Bearer <key>');
      }
      ctx.state.principal = principal;
      await next();
    };
  }

  /** Throw 403 unless the request carries the admin token (header X-Admin-Token or Bearer). */
  requireAdmin(ctx: Context): void {
    const token = ctx.get('x-admin-token') || bearer(ctx.get('authorization'));
    if (!this.adminAllowed(token)) throw new ClientError(403, 'this operator action needs the admin token: send X-Admin-Token: <token>');
  }

  /**
   * May this request read GET /metrics? METRICS_TOKEN (Bearer) or the admin token when either is
   * set; with neither, whoever may use the client API, as for the operator actions.
   */
  metricsAllowed(ctx: Context): boolean {
    const token = bearer(ctx.get('authorization'));
    if (this.metricsKeyring && token !== undefined && this.metricsKeyring.isAdmin(token)) return true;
    const admin = ctx.get('x-admin-token') || token;
    if (!this.keyring.openOperator) return this.adminAllowed(admin);
    return !this.metricsKeyring && this.principal(admin) !== undefined;
  }

  /** The caller of a websocket upgrade (Authorization header, or ?token= for browsers); undefined: refused. */
  upgradePrincipal(req: IncomingMessage, url: URL): Principal | undefined {
    const header = req.headers.authorization;
    return this.principal(bearer(typeof header === 'string' ? header : undefined) ?? url.searchParams.get('token') ?? undefined);
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
