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

describe('a simulator with its own node set and model folders', () => {
  test('lacks the classes it is told to (in /object_info and at POST /prompt); lists its folders; learns at restart and at once', async () => {
    const { startSim, getJson, postJson, sleepGraph } = await import('./helpers.js');
    const sim = await startSim({ missingNodes: ['TestSleep'], models: { loras: ['detail.safetensors'], my_models: ['x.bin'] } });
    try {
      expect((await getJson(sim, '/object_info')).body.TestSleep).toBeUndefined();
      expect((await getJson(sim, '/object_info/TestSleep')).body).toEqual({});
      const refused = await postJson(sim, '/prompt', { prompt: sleepGraph(0.01) });
      expect(refused.status).toBe(400);
      expect(refused.body.error.type).toBe('invalid_prompt');
      expect((await getJson(sim, '/models')).body).toEqual(expect.arrayContaining(['checkpoints', 'loras', 'my_models']));
      expect((await getJson(sim, '/models/loras')).body).toEqual(['detail.safetensors']);
      expect((await getJson(sim, '/models/my_models')).body).toEqual(['x.bin']);

      sim.setModels('checkpoints', ['new.safetensors']);
      expect((await getJson(sim, '/models/checkpoints')).body).toEqual(['new.safetensors']);
      expect((await getJson(sim, '/object_info/CheckpointLoaderSimple')).body.CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual(['new.safetensors']);

      await sim.restart({ missingNodes: [] });
      // A fresh connection: the pooled one died with the old process.
      const { Agent, request } = await import('undici');
      const agent = new Agent();
      try {
        const info = await request(`${sim.url}/object_info`, { dispatcher: agent });
        expect(((await info.body.json()) as any).TestSleep).toBeDefined();
        const posted = await request(`${sim.url}/prompt`, { dispatcher: agent, method: 'POST', body: JSON.stringify({ prompt: sleepGraph(0.01) }) });
        await posted.body.text();
        expect(posted.statusCode).toBe(200);
      } finally {
        await agent.close();
      }
    } finally {
      await sim.close();
    }
  });
});
