// GET/POST /prompt: queue length, and submitting a graph for validation and queueing.
import { randomUUID } from 'node:crypto';
import type { BackendContext } from '../context.js';
import type { Router } from '../http/router.js';
import { json } from '../http/response.js';
import { isPlainObject, pyFloat, pyStr, pyTruthy } from '../../comfy/python.js';
import { validatePrompt } from '../validation.js';

/** A body that is not a JSON object makes ComfyUI's handler raise, i.e. answer 500. */
class UnusableBody extends Error {}

export function queueInfo(ctx: BackendContext): { exec_info: { queue_remaining: number } } {
  return { exec_info: { queue_remaining: ctx.queue.remaining } };
}

export function promptRoutes(router: Router, ctx: BackendContext): void {
  router.get('/prompt', () => json(queueInfo(ctx)));

  router.post('/prompt', async (req) => {
    const body = await req.json();
    if (!isPlainObject(body)) {
      if (Array.isArray(body) || typeof body === 'string') {
        ctx.counter++;
        ctx.stats.rejected++;
        return noPrompt();
      }
      throw new UnusableBody();
    }

    let number: number;
    if ('number' in body) {
      number = pyFloat(body.number);
    } else {
      // The counter advances on every POST without `number`, even ones that then fail validation.
      number = ctx.counter;
      if ('front' in body && pyTruthy(body.front)) number = -number;
      ctx.counter++;
    }

    if (!('prompt' in body)) {
      ctx.stats.rejected++;
      return noPrompt();
    }
    if (!isPlainObject(body.prompt)) throw new UnusableBody();
    if ('extra_data' in body && !isPlainObject(body.extra_data)) throw new UnusableBody();

    const promptId = 'prompt_id' in body ? pyStr(body.prompt_id) : randomUUID();
    const extraData: Record<string, unknown> = isPlainObject(body.extra_data) ? structuredClone(body.extra_data) : {};
    if ('client_id' in body) extraData.client_id = body.client_id;
    const clientId = typeof extraData.client_id === 'string' ? extraData.client_id : undefined;
    ctx.received.push({ promptId, ...(clientId !== undefined ? { clientId } : {}), prompt: structuredClone(body.prompt) });

    const partial = 'partial_execution_targets' in body ? body.partial_execution_targets : null;
    // Validation coerces literals in place; the coerced graph is what runs and what /queue and /history show.
    const graph = structuredClone(body.prompt);
    const outcome = validatePrompt(graph, partial, ctx.registry, ctx.env);
    if (!outcome.ok) {
      ctx.stats.rejected++;
      return json({ error: outcome.error, node_errors: outcome.nodeErrors }, 400);
    }
    ctx.queue.put([number, promptId, graph, extraData, outcome.outputs]);
    ctx.stats.prompts++;
    ctx.emit('queued', promptId);
    ctx.worker.wake();
    return json({ prompt_id: promptId, number, node_errors: outcome.nodeErrors });
  });
}

function noPrompt() {
  return json(
    {
      error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} },
      node_errors: {},
    },
    400,
  );
}
