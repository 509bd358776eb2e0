// Webhooks: a job may name a URL that hears of its start and its end, signed per Standard Webhooks.
// Doors call `webhookTables` at submission (the v2 door through `webhookExtension`); `run.ts`
// starts the `Outbox`; the operator routes (`webhookRoutes`) are on the main port.
export { Outbox } from './outbox.js';
export type { OutboxOptions } from './outbox.js';
export { targetOf, webhookTables, WebhookUrlError, WEBHOOK_HEADER, WEBHOOK_TABLE } from './target.js';
export { webhookExtension } from './v2-extension.js';
export type { WebhookTarget } from './target.js';
export { webhookRoutes, WEBHOOK_ADMIN_PREFIX } from './routes.js';
export { WEBHOOK_EVENT_TYPES } from './events.js';
export type { WebhookEventType } from './events.js';
export { DELIVERIES } from './records.js';
export type { Delivery, DeliveryStatus } from './records.js';
export type { WebhookSettings } from './settings.js';
