// The door's uploads on disk: ComfyUI's name-clash rules, references as LoadImage writes them,
// where each goes on a backend, and nothing outside its folder.
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ComfyInputs, UploadRefused, backendPlacement, parseRef, storedRefsIn } from '../../src/compat/input-store.js';

let dir: string;
let store: ComfyInputs;
let n = 0;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'door-inputs-'));
  store = await ComfyInputs.open(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function incoming(text: string): Promise<string> {
  const file = path.join(store.incomingDir, `in-${n++}`);
  await writeFile(file, text);
  return file;
}

const save = async (filename: string, text: string, more: Partial<{ subfolder: string; type: string; overwrite: boolean }> = {}) =>
  store.save(await incoming(text), { filename, subfolder: '', type: 'input', overwrite: false, ...more });

test('same bytes reuse the name, other bytes count up, overwrite replaces', async () => {
  expect(await save('a.png', 'one')).toEqual({ name: 'a.png', subfolder: '', type: 'input' });
  expect((await save('a.png', 'one')).name).toBe('a.png');
  expect((await save('a.png', 'two')).name).toBe('a (1).png');
  expect((await save('a.png', 'two')).name).toBe('a (1).png');
  expect((await save('a.png', 'three')).name).toBe('a (2).png');
  expect((await save('a.png', 'four', { overwrite: true })).name).toBe('a.png');
  expect((await store.read('a.png')).bytes.toString()).toBe('four');
  expect(await readdir(store.incomingDir)).toEqual([]);
});

test('concurrent uploads of one name never share it', async () => {
  const names = await Promise.all(['x', 'y', 'z', 'w'].map((t) => save('c.png', t)));
  expect(new Set(names.map((r) => r.name)).size).toBe(4);
});

test('references: subfolders, annotations, other folders; and their place on a backend', async () => {
  await save('s.png', 'sub', { subfolder: 'a/b' });
  await save('t.png', 'temp', { type: 'temp' });
  expect(store.owns('a/b/s.png')).toBe(true);
  expect(store.owns('a/b/s.png [input]')).toBe(true);
  expect(store.owns('s.png')).toBe(false);
  expect(store.owns('t.png')).toBe(false);
  expect(store.owns('t.png [temp]')).toBe(true);
  expect(await store.read('a/b/s.png')).toEqual({ bytes: Buffer.from('sub'), filename: 's.png', subfolder: 'a/b' });
  expect(backendPlacement({ type: 'temp', path: 'x/t.png' })).toEqual({ filename: 't.png', subfolder: 'bridge-temp/x' });
  expect(parseRef('../../etc/passwd')).toBeUndefined();
  expect(parseRef('a/../b.png')).toEqual({ type: 'input', path: 'b.png' });
  // Reopened, the store knows its files again.
  const again = await ComfyInputs.open(dir);
  expect(again.owns('a/b/s.png')).toBe(true);
});

test('names and subfolders that leave the folder, and unknown types, are refused', async () => {
  await expect(save('x.png', 'x', { subfolder: '../..' })).rejects.toBeInstanceOf(UploadRefused);
  await expect(save('../../x.png', 'x')).rejects.toBeInstanceOf(UploadRefused);
  await expect(save('x.png', 'x', { type: 'models' })).rejects.toBeInstanceOf(UploadRefused);
});

test('the stored files a prompt names are the ones its job sends along', () => {
  const owns = (v: string) => v === 'mine.png' || v === 'sub/other.png';
  const prompt = {
    '1': { class_type: 'LoadImage', inputs: { image: 'mine.png' } },
    '2': { class_type: 'LoadImage', inputs: { image: 'theirs.png' } },
    '3': { class_type: 'LoadImageMask', inputs: { image: 'sub/other.png', channel: 'alpha' } },
    '4': { class_type: 'X', inputs: { text: 'mine.png', link: ['1', 0] } },
    '5': 'junk',
  };
  expect(storedRefsIn(prompt, owns).sort()).toEqual(['mine.png', 'sub/other.png']);
});
