import http from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ComfyClient, SIDE_WORK_CONCURRENCY } from '../../src/comfy/client.js';

/** A backend that holds every request until told to answer, counting what reached it. */
async function holdingBackend() {
  const held: { path: string; res: http.ServerResponse }[] = [];
  const arrived = new EventEmitter();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      held.push({ path: req.url ?? '', res });
      arrived.emit('request');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    async until(count: number) {
      while (held.length < count) await once(arrived, 'request');
    },
    answerAll() {
      for (const { path, res } of held.splice(0)) {
        res.setHeader('content-type', 'application/json');
        res.end(path.startsWith('/upload') ? JSON.stringify({ name: 'x.png', subfolder: '', type: 'input' }) : '{}');
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test(`uploads and history deletes toward one backend run ${SIDE_WORK_CONCURRENCY} at a time`, async () => {
  const backend = await holdingBackend();
  const client = new ComfyClient(backend.url, { timeoutMs: 5000 });
  try {
    const work = [
      ...Array.from({ length: 6 }, (_, i) => client.uploadImage(`in-${i}.png`, Buffer.from('png'))),
      ...Array.from({ length: 4 }, (_, i) => client.deleteHistory([`prompt-${i}`])),
    ];
    await backend.until(SIDE_WORK_CONCURRENCY);
    // Nothing was answered, so nothing beyond the bound may have started.
    expect(backend.held).toHaveLength(SIDE_WORK_CONCURRENCY);
    expect(client.sideWorkWaiting).toBe(10 - SIDE_WORK_CONCURRENCY);
    let answered = 0;
    const done = Promise.all(work).then(() => (answered = work.length));
    while (answered < work.length) {
      backend.answerAll();
      await Promise.race([done, backend.until(1)]);
    }
    expect(client.sideWorkWaiting).toBe(0);
  } finally {
    await client.close();
    await backend.close();
  }
});

test('prompt submissions do not wait behind side work', async () => {
  const backend = await holdingBackend();
  const client = new ComfyClient(backend.url, { timeoutMs: 5000 });
  try {
    const uploads = Array.from({ length: SIDE_WORK_CONCURRENCY + 2 }, (_, i) => client.uploadImage(`in-${i}.png`, Buffer.from('png')));
    await backend.until(SIDE_WORK_CONCURRENCY);
    const probe = client.queueRemaining().catch(() => undefined);
    await backend.until(SIDE_WORK_CONCURRENCY + 1);
    expect(backend.held.some((r) => r.path === '/prompt')).toBe(true);
    let settled = false;
    const all = Promise.all([...uploads, probe]).then(() => (settled = true));
    while (!settled) {
      backend.answerAll();
      await Promise.race([all, backend.until(1)]);
    }
  } finally {
    await client.close();
    await backend.close();
  }
});
