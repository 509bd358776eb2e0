import { backoffDelay } from '../../src/comfy/retry.js';

const opts = { baseMs: 500, maxMs: 30_000 };

describe('backoffDelay', () => {
  test('first attempt lies between half the base and the base', () => {
    expect(backoffDelay(0, opts, 0)).toBe(250);
    expect(backoffDelay(0, opts, 0.5)).toBe(375);
    expect(backoffDelay(0, opts, 0.999999)).toBe(500);
  });

  test('the ceiling doubles with each attempt', () => {
    // With random 0 the delay is exactly half the ceiling.
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, opts, 0))).toEqual([250, 500, 1000, 2000, 4000, 8000]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, opts, 0.999999))).toEqual([500, 1000, 2000, 4000]);
  });

  test('the ceiling is capped at maxMs', () => {
    expect(backoffDelay(6, opts, 0)).toBe(15_000); // 500 * 64 = 32000 → 30000
    expect(backoffDelay(6, opts, 0.999999)).toBe(30_000);
    expect(backoffDelay(20, opts, 0)).toBe(15_000);
    expect(backoffDelay(20, opts, 0.999999)).toBe(30_000);
  });

  test('huge attempt numbers stay finite and capped', () => {
    for (const attempt of [31, 100, 1_000, 1e9, Number.MAX_SAFE_INTEGER]) {
      const d = backoffDelay(attempt, opts, 0.5);
      expect(Number.isFinite(d)).toBe(true);
      expect(d).toBe(22_500);
    }
  });

  test('a maxMs below the base caps the first attempt too', () => {
    expect(backoffDelay(0, { baseMs: 1000, maxMs: 400 }, 0)).toBe(200);
    expect(backoffDelay(0, { baseMs: 1000, maxMs: 400 }, 0.999999)).toBe(400);
  });

  test('is deterministic for a given random', () => {
    for (const r of [0, 0.1, 0.37, 0.5, 0.9]) {
      expect(backoffDelay(3, opts, r)).toBe(backoffDelay(3, opts, r));
    }
  });

  test('grows linearly with random inside its band', () => {
    // ceiling 4000 at attempt 3: delay = 2000 + r * 2000
    expect(backoffDelay(3, opts, 0.25)).toBe(2500);
    expect(backoffDelay(3, opts, 0.75)).toBe(3500);
  });

  test('always returns a whole number of milliseconds within [ceiling/2, ceiling]', () => {
    const base = 137;
    const max = 10_000;
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(max, base * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const r = i / 50;
        const d = backoffDelay(attempt, { baseMs: base, maxMs: max }, r);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  test('never decreases as attempts grow, for the same random', () => {
    for (const r of [0, 0.3, 0.99]) {
      let last = 0;
      for (let attempt = 0; attempt < 40; attempt++) {
        const d = backoffDelay(attempt, opts, r);
        expect(d).toBeGreaterThanOrEqual(last);
        last = d;
      }
    }
  });

  test('uses Math.random when no random is given', () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, opts);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});
