// One delivery attempt over HTTP: a signed POST through the address guard, within a time limit,
// reading at most a few KB of the answer and following no redirect.
import { Agent, request } from 'undici';
import { Webhook } from 'standardwebhooks';
import type { AddressPolicy } from './address-guard.js';
import { guardedConnector } from './address-guard.js';
import type { Outcome } from './policy.js';
import { retryAfterMs } from './policy.js';

/** Bytes of an answer read at most (the rest is dropped with the connection). */
export const MAX_ANSWER_BYTES = 4096;
/** Characters of a failed answer's body kept for the operator. */
const SNIPPET_CHARS = 200;
/** Connecting gets at most this much of the attempt's time. */
const MAX_CONNECT_MS = 5_000;

export interface SendOptions {
  timeoutMs: number;
  addresses: AddressPolicy;
}

export interface Message {
  id: string;
  url: string;
  body: string;
}

/** What an attempt came to, with what the operator is shown of it. */
export type Sent = Outcome & { snippet?: string };

export class Sender {
  private readonly agent: Agent;
  private readonly signers = new Map<string, Webhook>();

  constructor(private readonly options: SendOptions) {
    const { timeoutMs, addresses } = options;
    this.agent = new Agent({
      connect: guardedConnector(addresses, Math.min(MAX_CONNECT_MS, timeoutMs)),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      // Idle connections to receivers do not linger.
      keepAliveTimeout: 2_000,
      keepAliveMaxTimeout: 10_000,
      connections: 4,
    });
  }

  /** POST the message, signed with `secret`; never throws. `signal` cuts it short (the bridge stopping). */
  async send(message: Message, secret: string, signal?: AbortSignal): Promise<Sent> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const now = new Date();
    try {
      const res = await request(message.url, {
        dispatcher: this.agent,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'comfy-bridge-webhooks',
          'webhook-id': message.id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': this.signer(secret).sign(message.id, now, message.body),
        },
        body: message.body,
        signal: both,
      });
      const text = await readSome(res.body, MAX_ANSWER_BYTES);
      const status = res.statusCode;
      const retryAfter = res.headers['retry-after'];
      const outcome: Sent = { kind: 'answered', status, retryAfterMs: retryAfterMs(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, now.getTime()) };
      if (status < 200 || status >= 300) {
        const location = res.headers.location;
        outcome.snippet = status >= 300 && status < 400 && location ? `redirect to ${String(location).slice(0, SNIPPET_CHARS)} not followed` : text.slice(0, SNIPPET_CHARS);
      }
      return outcome;
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { permanent?: boolean };
      if (timeout.aborted && !signal?.aborted) return { kind: 'error', error: `no answer within ${this.options.timeoutMs / 1000} s (WEBHOOK_TIMEOUT)` };
      if (signal?.aborted) return { kind: 'error', error: 'cut short: the bridge is stopping' };
      return { kind: 'error', error: describeError(e), ...(e.permanent === true && { permanent: true }) };
    }
  }

  private signer(secret: string): Webhook {
    let w = this.signers.get(secret);
    if (!w) this.signers.set(secret, (w = new Webhook(secret)));
    return w;
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/** Up to `limit` bytes of a body as text; the rest is not read (the connection is dropped instead). */
async function readSome(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) break;
    }
  } catch {
    // A body cut short says nothing the status did not.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

function describeError(e: NodeJS.ErrnoException): string {
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed (temporary)',
    UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
    UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
    UND_ERR_BODY_TIMEOUT: 'the answer stalled',
    UND_ERR_SOCKET: 'the connection failed',
  };
  const what = (e.code && words[e.code]) ?? e.message ?? String(e);
  const detail = e.code && words[e.code] && e.message && !e.message.includes(what) ? ` (${e.message})` : '';
  return `${what}${detail}`.slice(0, 300);
}
