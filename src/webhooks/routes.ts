// Operator routes for webhook deliveries (admin token), on the main port under /admin/webhooks:
// list them by status, show one with its attempts, send one again. They act on the records only;
// the dispatching process hears of a redelivery through the collection and sends it.
import Router from '@koa/router';
import type { Engine } from '../engine/index.js';
import { ClientError } from '../engine/index.js';
import type { Doors } from '../server/auth.js';
import { callerOf } from '../server/params.js';
import type { Delivery } from './records.js';
import { DELIVERIES, detailOf, redelivered, summaryOf } from './records.js';
import { checkQuery } from '../http/validate.js';
import { DeliveryListQuery } from './openapi.js';

export const WEBHOOK_ADMIN_PREFIX = '/admin/webhooks';
const DEFAULT_PAGE = 50;

/** Newest first; the id breaks ties. */
function before(a: Delivery, b: Delivery): boolean {
  return a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);
}

/** A page boundary: the last record shown, as an opaque token. */
function cursorOf(d: Delivery): string {
  return Buffer.from(JSON.stringify([d.createdAt, d.id])).toString('base64url');
}

function readCursor(text: string): { createdAt: number; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'number' && typeof id === 'string') return { createdAt, id };
  } catch {
    // answered below
  }
  throw new ClientError(400, 'cursor is not one this list gave (use next_cursor as it came)');
}

export function webhookRoutes(engine: Engine, doors: Doors): Router {
  const deliveries = engine.collection<Delivery>(DELIVERIES);
  const router = new Router({ prefix: WEBHOOK_ADMIN_PREFIX });
  router.use(async (ctx, next) => {
    doors.requireAdmin(ctx);
    // Deliveries show every key's URLs and results: with API keys, only the admin token sees them
    // (a key is no operator even while ADMIN_TOKEN is unset).
    if (!callerOf(ctx).admin) throw new ClientError(403, 'webhook deliveries of every key are shown only to the operator: set ADMIN_TOKEN and send X-Admin-Token: <token>');
    await next();
  });

  router.get('/', (ctx) => {
    const query = checkQuery(ctx, DeliveryListQuery);
    if (!query.ok) throw new ClientError(400, query.problems.join('; '));
    const { status, limit = DEFAULT_PAGE, cursor: cursorText } = query.value;
    const cursor = cursorText === undefined ? undefined : readCursor(cursorText);
    const after = cursor && ({ createdAt: cursor.createdAt, id: cursor.id } as Delivery);
    const matching: Delivery[] = [];
    for (const [, d] of deliveries.entries()) {
      if (status !== undefined && d.status !== status) continue;
      if (after && !before(after, d)) continue;
      matching.push(d);
    }
    matching.sort((a, b) => (before(a, b) ? -1 : 1));
    const page = matching.slice(0, limit);
    ctx.body = {
      deliveries: page.map(summaryOf),
      next_cursor: matching.length > limit ? cursorOf(page[page.length - 1]) : null,
    };
  });

  router.get('/:id', (ctx) => {
    const d = deliveries.get(ctx.params.id);
    if (!d) throw new ClientError(404, `no webhook delivery ${ctx.params.id.slice(0, 200)}`);
    ctx.body = detailOf(d);
  });

  router.post('/:id/redeliver', async (ctx) => {
    const d = deliveries.get(ctx.params.id);
    if (!d) throw new ClientError(404, `no webhook delivery ${ctx.params.id.slice(0, 200)}`);
    if (d.status === 'pending') throw new ClientError(409, `delivery ${d.id} is pending already; its next attempt is due ${new Date(d.nextAt).toISOString()}`);
    const again = redelivered(d, Date.now());
    await deliveries.set(d.id, again);
    ctx.status = 202;
    ctx.body = detailOf(again);
  });

  return router;
}
