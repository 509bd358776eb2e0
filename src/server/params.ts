// Reading and checking the parameters every route shares.
import type { Context } from 'koa';
import { ClientError } from '../engine/errors.js';
import { OPEN } from '../engine/tenants.js';
import type { ClientRef, Principal } from '../engine/tenants.js';

// Opaque and long enough not to be guessed: in an open bridge the clientId is what owns a client's
// jobs; with API keys it is a name inside the key's tenant.
export const CLIENT_ID = /^[A-Za-z0-9_.:@-]{8,128}$/;

export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID.test(value);
}

/** One query parameter as a single string (a repeated parameter is a mistake). */
export function queryParam(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new ClientError(400, `"${name}" is given more than once`);
  return v;
}

export function requireClientId(ctx: Context): string {
  const id = queryParam(ctx, 'clientId');
  if (id === undefined || id === '') throw new ClientError(400, 'clientId is required: add ?clientId=<your id> (8 to 128 letters, digits or _ . : @ -)');
  if (isClientId(id)) return id;
  throw new ClientError(400, `clientId ${JSON.stringify(String(id).slice(0, 140))} is not valid: use 8 to 128 letters, digits or _ . : @ -`);
}

export function optionalClientId(ctx: Context): string | undefined {
  const id = queryParam(ctx, 'clientId');
  if (id === undefined || id === '') return undefined;
  return requireClientId(ctx);
}

/** Who is asking: set by the key check before any route runs. */
export function callerOf(ctx: Context): Principal {
  return (ctx.state.principal as Principal | undefined) ?? OPEN;
}

/** The client a request names: its clientId, inside the caller's tenant. */
export function requireClient(ctx: Context): ClientRef {
  return { tenant: callerOf(ctx).tenant, clientId: requireClientId(ctx) };
}

/** A request whose envelope the schema refused: every problem in one {"detail"}, 400. */
export function refused(problems: readonly string[], code?: string): ClientError {
  return new ClientError(400, problems.join('; '), {}, code ? { code } : undefined);
}
