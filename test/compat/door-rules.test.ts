// Small rules of the door: prompt shape, names the curated door would claim, /view targets,
// headers, the origin guard, /api paths, pooled devices.
import { distinctRefs, shapeProblem } from '../../src/compat/door.js';
import { contentDisposition, viewTarget } from '../../src/compat/routes/files.js';
import { crossOriginRefused, withoutApiPrefix } from '../../src/compat/server.js';
import { poolDevices } from '../../src/compat/routes/info.js';

test('a prompt the engine can carry has {class_type, inputs} nodes', () => {
  expect(shapeProblem({ '1': { class_type: 'A', inputs: {} } })).toBeUndefined();
  expect(shapeProblem({ '1': { inputs: {} } })?.error.type).toBe('invalid_prompt');
  expect(shapeProblem({ '1': { class_type: 'A' } })?.error.details).toBe("Node ID '#1'");
  expect(shapeProblem({ '1': 'x' })?.error.type).toBe('invalid_prompt');
});

test('names shaped like curated uploads are written with their annotation', () => {
  const id = '0b6a8c1e-5d4a-4e8b-9c7d-2a1b0c9d8e7f.png';
  expect(distinctRefs([id, 'plain.png', `sub/${id}`])).toEqual({ [id]: `${id} [input]` });
});

test('/view targets are checked as ComfyUI checks them', () => {
  expect(viewTarget({})).toMatchObject({ ok: false, status: 404 });
  expect(viewTarget({ filename: '' })).toMatchObject({ ok: false, status: 400 });
  expect(viewTarget({ filename: '/etc/passwd' })).toMatchObject({ ok: false, status: 400 });
  expect(viewTarget({ filename: 'a/../../x.png' })).toMatchObject({ ok: false, status: 400 });
  expect(viewTarget({ filename: 'x.png', type: 'models' })).toMatchObject({ ok: false, status: 400 });
  expect(viewTarget({ filename: 'x.png', subfolder: '../x' })).toMatchObject({ ok: false, status: 403 });
  expect(viewTarget({ filename: 'x.png' })).toEqual({ ok: true, filename: 'x.png', type: 'output', subfolder: '' });
  expect(viewTarget({ filename: 'dir/x.png [temp]', type: 'output', subfolder: 'a/./b' })).toEqual({ ok: true, filename: 'x.png', type: 'temp', subfolder: 'a/b' });
});

test('Content-Disposition carries any name safely', () => {
  expect(contentDisposition('a.png')).toBe('filename="a.png"');
  expect(contentDisposition('猫 "1".png')).toBe(`filename="_ _1_.png"; filename*=UTF-8''${encodeURIComponent('猫 "1".png')}`);
});

test('the loopback origin guard, unless CORS_ORIGINS allows the origin', () => {
  expect(crossOriginRefused('127.0.0.1:8188', 'http://evil.example', [])).toBe(true);
  expect(crossOriginRefused('127.0.0.1:8188', 'http://127.0.0.1:8188', [])).toBe(false);
  expect(crossOriginRefused('127.0.0.1:8188', undefined, [])).toBe(false);
  expect(crossOriginRefused('gpu.example:8188', 'http://evil.example', [])).toBe(false);
  expect(crossOriginRefused('127.0.0.1:8188', 'http://app.example', ['http://app.example'])).toBe(false);
  expect(crossOriginRefused('localhost:8188', 'http://app.example', ['*'])).toBe(false);
});

test('/api paths and pooled devices', () => {
  expect(withoutApiPrefix('/api/prompt')).toBe('/prompt');
  expect(withoutApiPrefix('/api')).toBe('/');
  expect(withoutApiPrefix('/apiary')).toBe('/apiary');
  expect(withoutApiPrefix('/prompt')).toBe('/prompt');
  expect(
    poolDevices([
      { url: 'http://a:1', stats: { devices: [{ name: 'cuda:0 RTX', vram_free: 1 }] } },
      { url: 'http://b:2', stats: { devices: [{ name: 'cpu' }] } },
      { url: 'http://c:3', stats: null },
    ]),
  ).toEqual([{ name: 'http://a:1 cuda:0 RTX', vram_free: 1 }, { name: 'http://b:2 cpu' }]);
});
