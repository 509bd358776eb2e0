// The simulator's loaded checkpoints: loading one takes time, only so many stay loaded (least
// recently used dropped), and POST /free with unload_models empties them.
import { ModelMemory } from '../../src/sim/model-memory.js';

test('a held checkpoint costs nothing; a new one costs its load time and drops the least recently used', () => {
  const m = new ModelMemory({ loadMs: { 'a.safetensors': 3000, default: 1000 }, keep: 2 });
  expect(m.use('a.safetensors')).toBe(3000);
  expect(m.use('b.safetensors')).toBe(1000);
  expect(m.use('a.safetensors')).toBe(0);
  expect(m.held()).toEqual(['b.safetensors', 'a.safetensors']);
  expect(m.use('c.safetensors')).toBe(1000); // drops b, the least recently used
  expect(m.held()).toEqual(['a.safetensors', 'c.safetensors']);
  expect(m.use('b.safetensors')).toBe(1000);
  expect(m.loads).toBe(4);
  m.clear();
  expect(m.use('a.safetensors')).toBe(3000);
});
