import PQueue from 'p-queue';
import { Low, Memory } from 'lowdb';
test('esm deps load', async () => {
  const q = new PQueue({ concurrency: 1 });
  const db = new Low(new Memory<{ a: number }>(), { a: 1 });
  expect(await q.add(async () => db.data.a)).toBe(1);
});
