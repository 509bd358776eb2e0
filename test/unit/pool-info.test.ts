import { PoolInfo } from '../../src/engine/pool-info.js';
import type { Backend } from '../../src/scheduler/backend.js';

/** A backend as PoolInfo sees it: health, and the JSON it answers (counting the asks). */
function fakeBackend(body: unknown) {
  const fake = {
    url: 'http://backend',
    healthy: true,
    asked: 0,
    client: {
      getJson: async () => {
        fake.asked++;
        return body;
      },
    },
  };
  return fake;
}

const info = { KSampler: { input: {} } };

test('/object_info comes from a healthy backend and is kept', async () => {
  const backend = fakeBackend(info);
  const pool = new PoolInfo([backend as unknown as Backend]);
  expect(await pool.objectInfo()).toEqual(info);
  expect(await pool.objectInfo()).toEqual(info);
  expect(backend.asked).toBe(1);
});

test('with no healthy backend nobody is asked: the kept answer, or none', async () => {
  const backend = fakeBackend(info);
  backend.healthy = false;
  const pool = new PoolInfo([backend as unknown as Backend]);
  expect(await pool.objectInfo()).toBeUndefined();
  expect(backend.asked).toBe(0);

  backend.healthy = true;
  expect(await pool.objectInfo()).toEqual(info);
  backend.healthy = false;
  expect(await pool.objectInfo()).toEqual(info);
  expect(backend.asked).toBe(1);
});
