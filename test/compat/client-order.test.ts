// One prompt at a time per client: the order policy of the ComfyUI door's relay.
import { ClientOrder } from '../../src/compat/client-order.js';
import type { Outgoing, Supersede } from '../../src/compat/client-order.js';

type Client = { tenant: string; id: string };

const alice: Client = { tenant: '', id: 'alice' };
const bob: Client = { tenant: '', id: 'bob' };

function policy(connected: (c: Client) => boolean = () => true): ClientOrder<Client, string> {
  return new ClientOrder<Client, string>((c) => `${c.tenant}\n${c.id}`, connected);
}

const said = (out: Outgoing<Client, string>[]) => out.map((o) => `${o.promptId}:${o.item}`);
const PREVIEW: Supersede = { slot: 'preview', scope: 'prompt' };
const progress = (node: string): Supersede => ({ slot: `progress:${node}`, scope: 'run' });

test('the first prompt talks live; a later one is held until the first has said its last, then follows at once', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  expect(said(order.send(alice, 'b', 'start'))).toEqual([]);
  expect(said(order.send(alice, 'a', 'start'))).toEqual(['a:start']);
  expect(said(order.send(alice, 'b', 'executed'))).toEqual([]);
  expect(said(order.end(alice, 'b', ['success', 'done']))).toEqual([]);
  expect(said(order.send(alice, 'a', 'executed'))).toEqual(['a:executed']);
  // b already ended: it goes out whole, and the client has nothing left in line.
  expect(said(order.end(alice, 'a', ['success', 'done']))).toEqual(['a:success', 'a:done', 'b:start', 'b:executed', 'b:success', 'b:done']);
  expect(order.head(alice)).toBeUndefined();
  expect(order.has('b')).toBe(false);
});

test('a released prompt that is still running talks live from then on; the one after it waits for it', () => {
  const order = policy();
  for (const id of ['a', 'b', 'c']) order.admit(alice, id, 0);
  order.send(alice, 'b', 'start');
  order.send(alice, 'c', 'start');
  order.end(alice, 'c', ['success']);
  expect(said(order.end(alice, 'a', ['success']))).toEqual(['a:success', 'b:start']);
  expect(order.head(alice)).toBe('b');
  expect(said(order.send(alice, 'b', 'executing'))).toEqual(['b:executing']);
  expect(said(order.end(alice, 'b', ['success']))).toEqual(['b:success', 'c:start', 'c:success']);
});

test('clients and tenants have lines of their own', () => {
  const order = policy();
  const otherAlice: Client = { tenant: 'acme', id: 'alice' };
  order.admit(alice, 'a', 0);
  order.admit(bob, 'b', 0);
  order.admit(otherAlice, 'c', 0);
  expect(said(order.send(bob, 'b', 'start'))).toEqual(['b:start']);
  expect(said(order.send(otherAlice, 'c', 'start'))).toEqual(['c:start']);
  expect(said(order.send(alice, 'a', 'start'))).toEqual(['a:start']);
});

test('a predecessor that ends without a word (deleted, cancelled before it ran, forgotten) releases at once', () => {
  const order = policy();
  for (const id of ['a', 'b', 'c']) order.admit(alice, id, 0);
  order.send(alice, 'b', 'start');
  order.send(alice, 'c', 'start');
  expect(said(order.end(alice, 'a'))).toEqual(['b:start']);
  expect(said(order.forget('b'))).toEqual(['c:start']);
  expect(said(order.forget('nothing'))).toEqual([]);
  expect(order.head(alice)).toBe('c');
});

test('a failed or interrupted predecessor releases with its own last message first', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  order.send(alice, 'b', 'start');
  order.send(alice, 'a', 'start');
  expect(said(order.end(alice, 'a', ['error', 'done']))).toEqual(['a:error', 'a:done', 'b:start']);
});

test('a prompt the policy was never told of passes straight through', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  expect(said(order.send(alice, 'stranger', 'start'))).toEqual(['stranger:start']);
  expect(said(order.end(alice, 'stranger', ['success']))).toEqual(['stranger:success']);
  expect(order.head(alice)).toBe('a');
});

test('queue order: a better priority goes ahead of prompts that have not talked, never ahead of a head that has', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  // a has not said anything yet (still waiting): a front prompt takes its place.
  order.admit(alice, 'front1', -1);
  expect(order.head(alice)).toBe('front1');
  expect(said(order.send(alice, 'a', 'start'))).toEqual([]);
  expect(said(order.send(alice, 'front1', 'start'))).toEqual(['front1:start']);
  // front1 talks now: a newer front prompt goes right behind it, ahead of a and b (newest first).
  order.admit(alice, 'front2', -2);
  order.admit(alice, 'later', 0);
  order.send(alice, 'front2', 'start');
  order.send(alice, 'b', 'start');
  order.send(alice, 'later', 'start');
  expect(said(order.end(alice, 'front1', ['success']))).toEqual(['front1:success', 'front2:start']);
  order.admit(alice, 'later', -9); // admitted again: a no-op, it keeps its place
  expect(said(order.end(alice, 'front2', ['success']))).toEqual(['front2:success', 'a:start']);
  expect(said(order.end(alice, 'a', ['success']))).toEqual(['a:success', 'b:start']);
  expect(said(order.end(alice, 'b', ['success']))).toEqual(['b:success', 'later:start']);
  expect(order.head(alice)).toBe('later');
});

test('a head released with nothing held has not talked yet: a front prompt may still go ahead of it', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  order.send(alice, 'a', 'start');
  expect(said(order.end(alice, 'a', ['success']))).toEqual(['a:success']);
  order.admit(alice, 'front', -1);
  expect(order.head(alice)).toBe('front');
});

test('held previews: only the latest per prompt; progress: the latest per node since the last must-see message', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  order.send(alice, 'a', 'start');
  order.send(alice, 'b', 'start');
  order.send(alice, 'b', 'executing 3');
  for (let step = 1; step <= 20; step++) {
    order.send(alice, 'b', `preview ${step}`, PREVIEW);
    order.send(alice, 'b', `progress 3/${step}`, progress('3'));
  }
  order.send(alice, 'b', 'executing 8');
  order.send(alice, 'b', 'progress 8/1', progress('8'));
  order.send(alice, 'b', 'progress 8/2', progress('8'));
  order.send(alice, 'b', 'preview 21', PREVIEW);
  order.send(alice, 'b', 'executed 9');
  expect(order.heldCount(alice)).toBe(7);
  expect(said(order.end(alice, 'a', ['success']))).toEqual([
    'a:success',
    'b:start',
    'b:executing 3',
    'b:progress 3/20',
    'b:executing 8',
    'b:progress 8/2',
    'b:preview 21',
    'b:executed 9',
  ]);
});

test('nothing is held for a client without a socket; its prompts still keep their order and release', () => {
  let online = false;
  const order = policy(() => online);
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  order.admit(alice, 'c', 0);
  order.send(alice, 'b', 'start');
  order.end(alice, 'b', ['success']);
  expect(order.heldCount(alice)).toBe(0);
  // The client connects while a runs: c's messages are held from then on, b's were never kept.
  online = true;
  order.send(alice, 'c', 'executing');
  expect(said(order.end(alice, 'a', ['success']))).toEqual(['a:success', 'c:executing']);
});

test('a client that disconnects loses what was held for it; what comes after its return is held again', () => {
  const order = policy();
  order.admit(alice, 'a', 0);
  order.admit(alice, 'b', 0);
  order.send(alice, 'a', 'start');
  order.send(alice, 'b', 'start');
  order.send(alice, 'b', 'preview', PREVIEW);
  order.disconnected(alice);
  expect(order.heldCount(alice)).toBe(0);
  order.send(alice, 'b', 'executed');
  expect(said(order.end(alice, 'a', ['success']))).toEqual(['a:success', 'b:executed']);
  order.disconnected(bob); // a client with no line: nothing to do
});

test('unended: prompts whose end was not told; forgetting a held one keeps what it holds for its turn', () => {
  const order = policy();
  for (const id of ['a', 'b', 'c']) order.admit(alice, id, 0);
  order.send(alice, 'b', 'start');
  order.end(alice, 'c', ['success']);
  expect([...order.unended()]).toEqual(['a', 'b']);
  // b's end never came (its events were lost): it gives up its turn once a comes to an end.
  expect(said(order.forget('b'))).toEqual([]);
  expect([...order.unended()]).toEqual(['a']);
  expect(said(order.end(alice, 'a', ['success']))).toEqual(['a:success', 'b:start', 'c:success']);
  expect([...order.unended()]).toEqual([]);
});
