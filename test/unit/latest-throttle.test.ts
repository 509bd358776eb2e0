// At most one value per interval, and the latest of those offered meanwhile.
import { LatestThrottle } from '../../src/server/latest-throttle.js';

function recorder(intervalMs: number) {
  const sent: { value: number; at: number }[] = [];
  let waiting: ((v: number) => void) | undefined;
  const throttle = new LatestThrottle<number>(intervalMs, (value) => {
    sent.push({ value, at: performance.now() });
    waiting?.(value);
  });
  const nextSend = () => new Promise<number>((resolve) => (waiting = resolve));
  return { throttle, sent, nextSend };
}

test('the first value goes at once; values within the interval collapse to the latest, sent when it is up', async () => {
  const { throttle, sent, nextSend } = recorder(60);
  throttle.offer(1);
  expect(sent.map((s) => s.value)).toEqual([1]);
  const second = nextSend();
  for (let v = 2; v <= 9; v++) throttle.offer(v);
  expect(sent).toHaveLength(1);
  expect(await second).toBe(9);
  expect(sent.map((s) => s.value)).toEqual([1, 9]);
  // The timer's slack aside, never sooner than the interval.
  expect(sent[1].at - sent[0].at).toBeGreaterThanOrEqual(55);
});

test('drop forgets what is kept, or only a kept value that matches', async () => {
  const { throttle, sent, nextSend } = recorder(40);
  throttle.offer(1);
  throttle.offer(2);
  throttle.drop((v) => v === 3);
  expect(await nextSend()).toBe(2);
  throttle.offer(4);
  throttle.drop((v) => v === 4);
  // Nothing kept, so the next offer after the interval goes at once.
  await new Promise<void>((resolve) => {
    const check = () => (performance.now() - sent.at(-1)!.at >= 45 ? resolve() : setTimeout(check, 10));
    check();
  });
  throttle.offer(5);
  expect(sent.map((s) => s.value)).toEqual([1, 2, 5]);
  throttle.drop();
});
