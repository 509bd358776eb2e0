// What a webhook URL may be. Checked when a job names one and when the settings are read.
import type { AddressPolicy } from './address-guard.js';
import { addressBytes, refusal } from './address-guard.js';

export const MAX_URL_LENGTH = 2048;

/**
 * Why this URL cannot be a webhook, or undefined when it can: absolute http(s), at most 2,048
 * characters, no credentials or fragment, and not an IP address the guard refuses. A host name is
 * checked when a delivery connects (it may resolve differently by then).
 */
export function checkWebhookUrl(text: string, addresses: AddressPolicy): string | undefined {
  if (text.length > MAX_URL_LENGTH) return `the webhook URL is ${text.length} characters long; at most ${MAX_URL_LENGTH}`;
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return 'the webhook URL contains spaces or control characters';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `the webhook URL ${JSON.stringify(text.slice(0, 100))} is not an absolute URL like https://example.com/hook`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `the webhook URL must be http:// or https://, not ${url.protocol}//`;
  if (url.hostname === '') return 'the webhook URL names no host';
  if (url.username !== '' || url.password !== '') return 'the webhook URL must not carry credentials (user:password@); deliveries are signed instead';
  if (url.hash !== '' || text.includes('#')) return 'the webhook URL must not have a #fragment (it is never sent)';
  if (addressBytes(url.hostname)) {
    const why = refusal(url.hostname.replace(/^\[(.*)\]$/, '$1'), addresses);
    if (why) return `the webhook URL's address is refused: ${why} (WEBHOOK_ALLOW_PRIVATE allows such addresses)`;
  }
  return undefined;
}
