// Reading and checking the parameters every route shares.
import type { Context } from 'koa';
import { ClientError } from '../engine/errors.js';
import { OPEN } from '../engine/tenants.js';
import type { ClientRef, Principal } from '../engine/tenants.js';
import { checkQuery } from '../http/validate.js';
import { ClientQuery, OptionalClientQuery } from './openapi.js';

export { CLIENT_ID, isClientId } from './client-id.js';

/** ?clientId=, checked with the OpenAPI document's schema. */
export function requireClientId(ctx: Context): string {
  const query = checkQuery(ctx, ClientQuery);
  if (!query.ok) throw refused(query.problems);
  return query.value.clientId;
}

/** ?clientId= when given, checked with the OpenAPI document's schema. */
export function optionalClientId(ctx: Context): string | undefined {
  const query = checkQuery(ctx, OptionalClientQuery);
  if (!query.ok) throw refused(query.problems);
  return query.value.clientId;
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
