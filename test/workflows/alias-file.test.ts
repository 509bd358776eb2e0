import { fileInsideFolder, parseAliasFile } from '../../src/workflows/alias-file.js';

describe('parseAliasFile', () => {
  test('keeps the order of the file', () => {
    expect(parseAliasFile('{"b": "b.json", "a": "sub/a.json"}', 'aliases.json')).toEqual({
      ok: true,
      entries: [
        { alias: 'b', file: 'b.json' },
        { alias: 'a', file: 'sub/a.json' },
      ],
    });
  });

  test('refuses text that is not JSON', () => {
    const reading = parseAliasFile('{"a": ', 'aliases.json');
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.problems[0]).toMatch(/^alias file aliases\.json is not valid JSON: /);
  });

  test.each(['[]', '"a.json"', 'null', '3'])('refuses %s, which is not an object', (text) => {
    expect(parseAliasFile(text, 'aliases.json')).toEqual({
      ok: false,
      problems: ['alias file aliases.json must be a JSON object mapping alias to file name'],
    });
  });

  test('names every alias that does not map to a file name', () => {
    expect(parseAliasFile('{"a": 1, "b": "b.json", "c": null, "": "x.json", "d": " "}', 'aliases.json')).toEqual({
      ok: false,
      problems: [
        'alias file aliases.json: alias "a" must map to a file name string',
        'alias file aliases.json: alias "c" must map to a file name string',
        'alias file aliases.json: an alias must not be empty',
        'alias file aliases.json: alias "d" must map to a file name string',
      ],
    });
  });
});

describe('fileInsideFolder', () => {
  test.each([
    ['a.json', 'a.json'],
    ['./a.json', 'a.json'],
    ['sub/a.json', 'sub/a.json'],
    ['sub/../a.json', 'a.json'],
  ])('%s stays inside as %s', (file, inside) => {
    expect(fileInsideFolder('/srv/workflows', file)).toBe(inside);
  });

  test.each(['../a.json', 'sub/../../a.json', '/etc/passwd', '..', '.', '', 'a\0.json'])('%s leaves the folder', (file) => {
    expect(fileInsideFolder('/srv/workflows', file)).toBeUndefined();
  });

  test('a sibling folder sharing the prefix is outside', () => {
    expect(fileInsideFolder('/srv/workflows', '../workflows-old/a.json')).toBeUndefined();
  });
});
