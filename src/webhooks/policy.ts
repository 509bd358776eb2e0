// The delivery policy, pure: what an attempt's outcome means, and when the next one is due.
//
// Retries back off exponentially with full jitter (a random wait between 0 and a ceiling that
// doubles per failure, up to a cap), so receivers coming back from an outage are not hit by every
// delivery at once. The schedule scales with the retry window: a 24-hour window starts with
// ceilings of 5 s and caps them at an hour; a window of seconds retries within milliseconds.

/** What one attempt came to. */
export type Outcome =
  /** The receiver answered with this status (its body is not what decides). */
  | { kind: 'answered'; status: number; retryAfterMs?: number }
  /** No answer: refused, reset, timed out… `permanent` when trying again cannot help. */
  | { kind: 'error'; error: string; permanent?: boolean };

export type Verdict = 'delivered' | 'retry' | 'give-up';

export interface RetrySchedule {
  /** The first retry's ceiling. */
  baseMs: number;
  /** No ceiling grows beyond this. */
  capMs: number;
  /** Retries stop once the next would start later than this after the window began. */
  windowMs: number;
}

export function retrySchedule(windowMs: number): RetrySchedule {
  const baseMs = Math.min(5_000, Math.max(10, windowMs / 17_280));
  const capMs = Math.max(baseMs, Math.min(3_600_000, windowMs / 24));
  return { baseMs, capMs, windowMs };
}

/**
 * A 2xx delivers. 410 Gone says the receiver is gone for good. Everything else is retried:
 * other 4xx (a receiver being set up), 5xx, and 3xx, since redirects are not followed (each would
 * need the address guard again, and a receiver should be named by its final URL).
 */
export function verdict(outcome: Outcome): Verdict {
  if (outcome.kind === 'error') return outcome.permanent ? 'give-up' : 'retry';
  if (outcome.status >= 200 && outcome.status < 300) return 'delivered';
  if (outcome.status === 410) return 'give-up';
  return 'retry';
}

/** The wait before the next attempt after `failures` failed ones (1 or more): full jitter. */
export function backoff(failures: number, schedule: RetrySchedule, random: () => number = Math.random): number {
  const ceiling = Math.min(schedule.capMs, schedule.baseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 40));
  return Math.floor(random() * ceiling);
}

/** A Retry-After header (seconds, or an HTTP date) as a wait in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** What to do after an attempt: done, or the next attempt's time, or give up (and why). */
export type Next = { status: 'delivered' } | { status: 'pending'; nextAt: number } | { status: 'dead'; reason: string };

/**
 * After the `failures`-th failure (or a success) at `now`, in a window that began at `since`.
 * A receiver's Retry-After is honoured up to the schedule's cap.
 */
export function nextStep(outcome: Outcome, failures: number, since: number, now: number, schedule: RetrySchedule, random: () => number = Math.random): Next {
  const v = verdict(outcome);
  if (v === 'delivered') return { status: 'delivered' };
  if (v === 'give-up') return { status: 'dead', reason: outcome.kind === 'error' ? outcome.error : `the receiver answered ${outcome.status} (gone)` };
  const asked = outcome.kind === 'answered' ? Math.min(outcome.retryAfterMs ?? 0, schedule.capMs) : 0;
  const nextAt = now + Math.max(backoff(failures, schedule, random), asked);
  if (nextAt > since + schedule.windowMs) {
    return { status: 'dead', reason: `not delivered within the retry window (${formatMs(schedule.windowMs)}); last: ${describe(outcome)}` };
  }
  return { status: 'pending', nextAt };
}

export function describe(outcome: Outcome): string {
  return outcome.kind === 'answered' ? `HTTP ${outcome.status}` : outcome.error;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
