// What the OpenAPI documents of every door share: security schemes, and helpers that keep the
// door modules' path tables short. The schemas themselves live next to the routes they check.
import { z } from 'zod';
import type { ZodOpenApiResponseObject, ZodOpenApiSecuritySchemeObject } from 'zod-openapi';
import 'zod-openapi';
import { TIERS } from '../scheduler/fair-queue.js';

/** Koa's path syntax (/jobs/:id) in OpenAPI's (/jobs/{id}). */
export function openApiPath(koaPath: string): string {
  return koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export const SECURITY_SCHEMES: Record<string, ZodOpenApiSecuritySchemeObject> = {
  apiKey: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS: `Authorization: Bearer <key>`. Not needed while the bridge is open (no API_KEYS and no ADMIN_TOKEN).' },
  adminToken: { type: 'apiKey', in: 'header', name: 'X-Admin-Token', description: 'The operator\'s ADMIN_TOKEN (also accepted as `Authorization: Bearer <token>`).' },
};

type Security = Record<string, string[]>[];

/** A client call: an API key, or nothing on an open bridge. */
export const CLIENT: Security = [{ apiKey: [] }, {}];
/** An operator call: the admin token (as the bearer or X-Admin-Token), or nothing on an open bridge. */
export const OPERATOR: Security = [{ adminToken: [] }, { apiKey: [] }, {}];
/** Open to all. */
export const OPEN: Security = [{}];

export const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

/** A response with a JSON body. */
export function jsonResponse(description: string, schema: z.ZodType, headers?: z.ZodObject): ZodOpenApiResponseObject {
  return { description, content: json(schema), ...(headers && { headers }) };
}

export const RetryAfter = z.string().meta({ description: 'Seconds to wait before retrying.' });

/** Any JSON value (a graph, a backend's answer passed on as it came). */
export const AnyObject = z.record(z.string(), z.unknown());

/** A priority tier, as a body field or a query parameter; the engine holds it to what the key may use. */
export const Tier = z
  .enum(TIERS, { error: (issue) => `"priority" must be one of ${TIERS.join(', ')}, got ${JSON.stringify(issue.input)?.slice(0, 40)}` })
  .meta({ description: `The job's priority tier: ${TIERS.join(', ')}. A key may ask up to its KEY_LIMITS max_priority (else PRIORITY_MAX); without it, the key's default (PRIORITY_DEFAULT). Jobs of a higher tier go first.`, example: 'normal' });
