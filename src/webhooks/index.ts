// Webhooks: a job may name a URL that hears of its start and its end, signed per Standard Webhooks.
// Doors call `webhookTables` at submission; `run.ts` starts the `Outbox`; the operator routes
// (`webhookRoutes`) are on the main port.
export { Outbox } from './outbox.js';
export type { OutboxOptions } from './outbox.js';
export { webhookTables, WebhookUrlError, WEBHOOK_HEADER, WEBHOOK_TABLE } from './target.js';
export type { WebhookTarget } from './target.js';
export { webhookRoutes, WEBHOOK_ADMIN_PREFIX } from './routes.js';
export { defaultView, WEBHOOK_EVENT_TYPES } from './events.js';
export type { JobView, WebhookEventType } from './events.js';
export { DELIVERIES } from './records.js';
export type { Delivery, DeliveryStatus } from './records.js';
export type { WebhookSettings } from './settings.js';
