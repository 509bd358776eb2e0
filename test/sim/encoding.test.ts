// The pure helpers: PNG writing/reading and Python value formatting.
import { deflateSync } from 'node:zlib';
import { encodeSolidPng, pngFirstPixel, pngSize, readPngText } from '../../src/sim/png.js';
import { pyFloat, pyFloatRepr, pyInt, pyJson, pyRepr, pySplitext, pyStr, PyError } from '../../src/comfy/python.js';

test('solid PNGs round-trip size, colour, alpha and text, and padding reaches the requested size exactly', () => {
  const plain = encodeSolidPng({ width: 3, height: 2, rgb: [1, 2, 3], text: [['prompt', '{"a": 1}'], ['prompt_id', 'p1']] }).toBuffer();
  expect(pngSize(plain)).toEqual({ width: 3, height: 2 });
  expect(pngFirstPixel(plain)).toEqual({ rgb: [1, 2, 3], alpha: 255 });
  expect(readPngText(plain)).toEqual({ prompt: '{"a": 1}', prompt_id: 'p1' });

  const rgba = encodeSolidPng({ width: 5000, height: 1, rgb: [9, 9, 9], alpha: 7 }).toBuffer();
  expect(pngSize(rgba)).toEqual({ width: 1024, height: 1 });
  expect(pngFirstPixel(rgba)!.alpha).toBe(7);

  const padded = encodeSolidPng({ width: 2, height: 2, rgb: [0, 0, 0], minBytes: 100_000 });
  expect(padded.size).toBe(100_000);
  const bytes = padded.toBuffer();
  expect(bytes.length).toBe(100_000);
  expect(pngSize(bytes)).toEqual({ width: 2, height: 2 });
  expect(padded.slice(0, 8).toBuffer()).toEqual(bytes.subarray(0, 8));
  expect(padded.slice(50_000, 50_010).toBuffer()).toEqual(Buffer.alloc(10));
});

test('readPngText also reads zTXt and iTXt, and ignores non-PNG input', () => {
  const base = encodeSolidPng({ width: 1, height: 1, rgb: [0, 0, 0] }).toBuffer();
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, data, Buffer.alloc(4)]);
  };
  const ztxt = chunk('zTXt', Buffer.concat([Buffer.from('z\0\0'), deflateSync('zipped')]));
  const itxt = chunk('iTXt', Buffer.concat([Buffer.from('i\0\0\0en\0\0'), Buffer.from('ünïcode')]));
  const withText = Buffer.concat([base.subarray(0, 33), ztxt, itxt, base.subarray(33)]);
  expect(readPngText(withText)).toEqual({ z: 'zipped', i: 'ünïcode' });
  expect(readPngText(Buffer.from('not a png'))).toEqual({});
  expect(() => pngSize(Buffer.from('nope'))).toThrow();
});

test('Python formatting: json.dumps spacing and escaping, repr and str, float repr', () => {
  expect(pyJson({ a: [1, 'x', null, true], 'é': 'ü\n' })).toBe('{"a": [1, "x", null, true], "\\u00e9": "\\u00fc\\n"}');
  expect(pyRepr(['a', "it's", 1, null, { k: false }])).toBe(`['a', "it's", 1, None, {'k': False}]`);
  expect(pyStr('plain')).toBe('plain');
  expect(pyFloatRepr(1)).toBe('1.0');
  expect(pyFloatRepr(0.1)).toBe('0.1');
  expect(pyFloatRepr(1e-7)).toBe('1e-07');
  expect(pyFloatRepr(1e16)).toBe('1e+16');
  expect(pyFloatRepr(123456.5)).toBe('123456.5');
  expect(pySplitext('up.png')).toEqual(['up', '.png']);
  expect(pySplitext('.hidden')).toEqual(['.hidden', '']);
  expect(pySplitext('a.tar.gz')).toEqual(['a.tar', '.gz']);
});

test('Python coercion: int() and float() accept what Python accepts and fail with its messages', () => {
  expect(pyInt(' 42 ')).toBe(42);
  expect(pyInt(3.9)).toBe(3);
  expect(pyInt(true)).toBe(1);
  expect(pyInt('1_000')).toBe(1000);
  expect(() => pyInt('4.5')).toThrow("invalid literal for int() with base 10: '4.5'");
  expect(() => pyInt(null)).toThrow(PyError);
  expect(pyFloat('1e3')).toBe(1000);
  expect(pyFloat('-inf')).toBe(-Infinity);
  expect(() => pyFloat('abc')).toThrow("could not convert string to float: 'abc'");
  expect(() => pyFloat([])).toThrow("float() argument must be a string or a real number, not 'list'");
});
