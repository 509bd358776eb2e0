// The operator routes of webhook deliveries in the OpenAPI document: the list's query, which the
// route checks requests with, and the shapes of a delivery.
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { OPERATOR, jsonResponse } from '../openapi/common.js';
import { refusals } from '../server/openapi.js';
import { DELIVERY_STATUSES } from './records.js';

export const MAX_PAGE = 500;

export const DeliveryListQuery = z.object({
  status: z.enum(DELIVERY_STATUSES as [string, ...string[]], { error: `status must be one of ${DELIVERY_STATUSES.join(', ')}` }).optional(),
  limit: z.coerce
    .number({ error: `limit must be a whole number from 1 to ${MAX_PAGE}` })
    .int({ error: `limit must be a whole number from 1 to ${MAX_PAGE}` })
    .min(1, { error: `limit must be a whole number from 1 to ${MAX_PAGE}` })
    .max(MAX_PAGE, { error: `limit must be a whole number from 1 to ${MAX_PAGE}` })
    .optional()
    .meta({ description: 'How many to show (50 unless given).' }),
  cursor: z.string().optional().meta({ description: 'next_cursor of the page before.' }),
});

const iso = z.string().meta({ format: 'date-time' });
const Attempt = z.object({ at: iso, duration_ms: z.number(), status_code: z.number().int().nullable(), error: z.string().nullable() });

export const DeliverySummary = z
  .object({
    id: z.string(),
    type: z.string(),
    job_id: z.string(),
    tenant: z.string(),
    url: z.string(),
    status: z.enum(DELIVERY_STATUSES as [string, ...string[]]),
    created_at: iso,
    attempts: z.number().int(),
    next_attempt_at: iso.nullable(),
    finished_at: iso.nullable(),
    reason: z.string().nullable(),
    last_attempt: Attempt.nullable(),
  })
  .meta({ id: 'WebhookDeliverySummary' });

export const DeliveryDetail = DeliverySummary.extend({ retry_window_started_at: iso, attempts_shown: z.array(Attempt), payload: z.unknown() }).meta({ id: 'WebhookDelivery' });

const deliveryId = z.object({ id: z.string().meta({ description: 'A delivery id.' }) });

export const webhookPaths: ZodOpenApiPathsObject = {
  '/admin/webhooks': {
    get: {
      tags: ['webhooks'],
      summary: 'Webhook deliveries, newest first',
      description: 'Every key\'s deliveries: only for the admin token.',
      security: OPERATOR,
      requestParams: { query: DeliveryListQuery },
      responses: { 200: jsonResponse('A page of deliveries.', z.object({ deliveries: z.array(DeliverySummary), next_cursor: z.string().nullable() })), ...refusals(400, 401, 403) },
    },
  },
  '/admin/webhooks/{id}': {
    get: { tags: ['webhooks'], summary: 'One delivery with its attempts and payload', security: OPERATOR, requestParams: { path: deliveryId }, responses: { 200: jsonResponse('The delivery.', DeliveryDetail), ...refusals(401, 403, 404) } },
  },
  '/admin/webhooks/{id}/redeliver': {
    post: {
      tags: ['webhooks'],
      summary: 'Send a delivery again',
      security: OPERATOR,
      requestParams: { path: deliveryId },
      responses: { 202: jsonResponse('Pending again.', DeliveryDetail), ...refusals(401, 403, 404, 409) },
    },
  },
};
