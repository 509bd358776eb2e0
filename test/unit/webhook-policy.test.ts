// The delivery policy: what an outcome means, full-jitter back-off, Retry-After, the window.
import { backoff, nextStep, retryAfterMs, retrySchedule, verdict } from '../../src/webhooks/policy.js';

describe('verdict', () => {
  test('2xx delivers; 410 gives up; other answers are retried, redirects included', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(verdict({ kind: 'answered', status })).toBe('delivered');
    expect(verdict({ kind: 'answered', status: 410 })).toBe('give-up');
    for (const status of [100, 301, 302, 307, 308, 400, 401, 404, 408, 429, 500, 502, 503]) expect(verdict({ kind: 'answered', status })).toBe('retry');
  });

  test('errors are retried unless trying again cannot help', () => {
    expect(verdict({ kind: 'error', error: 'connection refused' })).toBe('retry');
    expect(verdict({ kind: 'error', error: 'refused by the address guard', permanent: true })).toBe('give-up');
  });
});

describe('retrySchedule', () => {
  test('a day: first ceiling 5 s, capped at an hour', () => {
    expect(retrySchedule(86_400_000)).toEqual({ baseMs: 5_000, capMs: 3_600_000, windowMs: 86_400_000 });
  });

  test('a short window retries within milliseconds, never below 10 ms', () => {
    const s = retrySchedule(2_000);
    expect(s.baseMs).toBe(10);
    expect(s.capMs).toBeCloseTo(2_000 / 24);
  });

  test('a long window keeps an hour as the cap and 5 s as the base', () => {
    expect(retrySchedule(30 * 86_400_000)).toMatchObject({ baseMs: 5_000, capMs: 3_600_000 });
  });
});

describe('backoff (full jitter)', () => {
  const s = retrySchedule(86_400_000);

  test('the ceiling doubles per failure up to the cap', () => {
    const top = () => 0.999999;
    expect(backoff(1, s, top)).toBe(4_999);
    expect(backoff(2, s, top)).toBe(9_999);
    expect(backoff(3, s, top)).toBe(19_999);
    expect(backoff(20, s, top)).toBe(3_599_996);
    expect(backoff(10_000, s, top)).toBe(3_599_996);
  });

  test('the wait is anywhere from 0 to the ceiling', () => {
    expect(backoff(5, s, () => 0)).toBe(0);
    expect(backoff(5, s, () => 0.5)).toBe(40_000);
    for (let i = 0; i < 200; i++) {
      const w = backoff(4, s);
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThan(40_000);
    }
  });
});

describe('retryAfterMs', () => {
  test('seconds or an HTTP date; anything else is ignored', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('nextStep', () => {
  const s = retrySchedule(60_000);
  const half = () => 0.5;

  test('success is delivered; a permanent failure is dead with its reason', () => {
    expect(nextStep({ kind: 'answered', status: 204 }, 0, 0, 10, s, half)).toEqual({ status: 'delivered' });
    expect(nextStep({ kind: 'error', error: 'refused', permanent: true }, 1, 0, 10, s, half)).toEqual({ status: 'dead', reason: 'refused' });
    expect(nextStep({ kind: 'answered', status: 410 }, 1, 0, 10, s, half)).toMatchObject({ status: 'dead', reason: expect.stringMatching(/410/) });
  });

  test('a failure inside the window is tried again after the back-off', () => {
    expect(nextStep({ kind: 'answered', status: 500 }, 3, 0, 1_000, s, half)).toEqual({ status: 'pending', nextAt: 1_000 + 20 });
  });

  test('Retry-After is honoured, up to the cap', () => {
    expect(nextStep({ kind: 'answered', status: 429, retryAfterMs: 1_500 }, 1, 0, 1_000, s, half)).toEqual({ status: 'pending', nextAt: 2_500 });
    expect(nextStep({ kind: 'answered', status: 503, retryAfterMs: 3_600_000 }, 1, 0, 1_000, s, half)).toEqual({ status: 'pending', nextAt: 1_000 + s.capMs });
  });

  test('a retry that would start past the window gives up and says why', () => {
    const next = nextStep({ kind: 'error', error: 'connection refused' }, 30, 0, 59_990, s, half);
    expect(next).toEqual({ status: 'dead', reason: 'not delivered within the retry window (1 min); last: connection refused' });
  });
});
