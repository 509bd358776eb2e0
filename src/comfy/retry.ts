// Reconnect timing: exponential backoff with full jitter, so a pool of bridges (or sockets)
// that lost a backend at the same moment does not hammer it in lock-step when it returns.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** Delay before reconnect attempt `attempt` (0-based); `random` in [0, 1). */
export function backoffDelay(attempt: number, { baseMs, maxMs }: BackoffOptions, random: number = Math.random()): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  // Keep a floor of half the ceiling so an unlucky draw never turns into a tight loop.
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
}
