// Naming a job's webhook at submission: the `Webhook-Url` request header, or the API key's default
// (WEBHOOKS). A door calls `webhookTables` and passes the answer in `JobSpec.tables` (the v2 door
// through its extension, `v2-extension.ts`, which keeps it in the job's v2 record), so the URL is
// written with the job and the dispatcher reads it (`targetOf`) when the job's events happen.
import { ClientError } from '../engine/errors.js';
import type { Engine } from '../engine/index.js';
import type { Principal } from '../engine/tenants.js';
import { V2_DOOR } from '../v2/door.js';
import type { V2Record } from '../v2/extensions.js';
import { checkWebhookUrl } from './url.js';
import type { WebhookSettings } from './settings.js';
import { ANY_KEY, secretOf } from './settings.js';

/** The request header that names a job's webhook (the body field `webhook_url` is reserved by the v2 contract). */
export const WEBHOOK_HEADER = 'Webhook-Url';

/** The side table that holds a job's webhook. */
export const WEBHOOK_TABLE = 'webhook';

/** A job's webhook, as written with the job. */
export interface WebhookTarget {
  url: string;
}

/** A webhook URL the bridge will not use; `code` names the problem for doors with error codes. */
export class WebhookUrlError extends ClientError {
  constructor(status: number, detail: string) {
    super(status, detail, {}, { code: 'invalid_webhook_url' });
  }
}

/**
 * The side-table value that gives a job its webhook, to spread into `JobSpec.tables`: the
 * `Webhook-Url` header's URL, else the caller's key's default, else nothing (`{}`). Throws
 * WebhookUrlError (status 400, or `status` if given) with the reason for a URL that cannot be used.
 */
export function webhookTables(
  settings: WebhookSettings,
  who: Principal,
  header: string | string[] | undefined,
  { status = 400 }: { status?: number } = {},
): { [WEBHOOK_TABLE]?: WebhookTarget } {
  if (Array.isArray(header)) {
    if (header.length > 1) throw new WebhookUrlError(status, `${WEBHOOK_HEADER} is given more than once; name one URL`);
    header = header[0];
  }
  const named = header?.trim();
  const url = named || (Object.hasOwn(settings.urls, who.tenant) ? settings.urls[who.tenant] : undefined) || settings.urls[ANY_KEY];
  if (!url) return {};
  if (named) {
    const problem = checkWebhookUrl(named, settings.addresses);
    if (problem) throw new WebhookUrlError(status, `${WEBHOOK_HEADER}: ${problem}`);
    if (secretOf(settings, who.tenant) === undefined) {
      throw new WebhookUrlError(status, `${WEBHOOK_HEADER}: this bridge sends no webhooks (it has no signing secret: WEBHOOK_SECRET is not set)`);
    }
  }
  return { [WEBHOOK_TABLE]: { url } };
}

/** The webhook a job was given: in its `webhook` side table, or kept by the v2 door's extension. */
export function targetOf(engine: Pick<Engine, 'doorTable'>, jobId: string): WebhookTarget | undefined {
  return engine.doorTable<WebhookTarget>(WEBHOOK_TABLE).get(jobId) ?? (engine.doorTable<V2Record>(V2_DOOR).get(jobId)?.extensions?.[WEBHOOK_TABLE] as WebhookTarget | undefined);
}
