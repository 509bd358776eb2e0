import { v1 as uuidv1, v4 as uuidv4 } from 'uuid';
import { UploadStore } from '../../src/uploads/store.js';

test('fresh names are version 7 uuids, and a stored name made from one is recognised', () => {
  const store = new UploadStore('unused');
  const a = store.newIncomingName();
  const b = store.newIncomingName();
  expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(a).not.toBe(b);
  for (const ext of ['png', 'jpg', 'gif', 'webp', 'bmp', 'tiff']) expect(UploadStore.isName(`${a}.${ext}`)).toBe(true);
});

test('names made before (version 4 uuids) are still recognised', () => {
  expect(UploadStore.isName(`${uuidv4()}.png`)).toBe(true);
});

test.each([
  ['no extension', () => new UploadStore('unused').newIncomingName()],
  ['an unknown extension', () => `${new UploadStore('unused').newIncomingName()}.svg`],
  ['upper case', () => `${new UploadStore('unused').newIncomingName().toUpperCase()}.png`],
  ['another uuid version', () => `${uuidv1()}.png`],
  ['a path around it', () => `../${new UploadStore('unused').newIncomingName()}.png`],
  ['a subfolder', () => `sub/${new UploadStore('unused').newIncomingName()}.png`],
  ['the 32-hex form', () => `${new UploadStore('unused').newIncomingName().replace(/-/g, '')}.png`],
  ['a client file name', () => 'photo.png'],
])('%s is not an upload name', (_what, make) => {
  expect(UploadStore.isName(make())).toBe(false);
});

test('anything but a string is not an upload name', () => {
  for (const value of [undefined, null, 42, {}, ['a.png']]) expect(UploadStore.isName(value)).toBe(false);
});
