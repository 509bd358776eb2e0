// Webhooks on the v2 door (POST /api/v2/jobs and /api/v2/workflows/{alias}/jobs), as one of its
// job extensions: the `Webhook-Url` header (or the key's default) is checked before the job is
// recorded and kept in the job's v2 record. The spec reserves the body field `webhook_url`; it is
// left to the spec (and refused as today), so the extension reads a header only. The header counts
// for Idempotency-Key: the same key with another Webhook-Url is another request.
import type { JobExtension, JobRequest } from '../v2/extensions.js';
import { V2Error } from '../v2/errors.js';
import type { WebhookSettings } from './settings.js';
import { WEBHOOK_HEADER, WEBHOOK_TABLE, WebhookUrlError, webhookTables } from './target.js';
import type { WebhookTarget } from './target.js';

export function webhookExtension(settings: WebhookSettings): JobExtension {
  return {
    name: WEBHOOK_TABLE,
    headers: [WEBHOOK_HEADER],
    prepare(request: JobRequest): WebhookTarget | undefined {
      try {
        return webhookTables(settings, request.who, request.header(WEBHOOK_HEADER), { status: 422 })[WEBHOOK_TABLE];
      } catch (err) {
        if (err instanceof WebhookUrlError) throw new V2Error(422, err.code!, err.detail);
        throw err;
      }
    },
  };
}
