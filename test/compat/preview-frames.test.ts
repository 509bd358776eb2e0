// Preview frames converted between ComfyUI's two layouts.
import { readMetadataPreview, toLegacyPreview, toMetadataPreview } from '../../src/compat/previews.js';

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function metadataFrame(meta: Record<string, unknown>, image: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  return Buffer.concat([u32(4), u32(json.length), json, image]);
}

const image = Buffer.from('not really an image');

test('type 4 → type 1: format from image_type (1 JPEG, 2 PNG), then the image', () => {
  const png = toLegacyPreview(metadataFrame({ prompt_id: 'p', node_id: '3', image_type: 'image/png' }, image))!;
  expect(png.readUInt32BE(0)).toBe(1);
  expect(png.readUInt32BE(4)).toBe(2);
  expect(png.subarray(8).equals(image)).toBe(true);
  const jpeg = toLegacyPreview(metadataFrame({ prompt_id: 'p', image_type: 'image/jpeg' }, image))!;
  expect(jpeg.readUInt32BE(4)).toBe(1);
});

test('type 1 → type 4: metadata names the prompt and the running node', () => {
  const legacy = Buffer.concat([u32(1), u32(2), image]);
  const frame = toMetadataPreview(legacy, { promptId: 'p1', node: '7' })!;
  const parsed = readMetadataPreview(frame)!;
  expect(parsed.metadata).toEqual({ node_id: '7', prompt_id: 'p1', display_node_id: '7', parent_node_id: null, real_node_id: '7', image_type: 'image/png' });
  expect(parsed.image.equals(image)).toBe(true);
  expect(toLegacyPreview(frame)!.equals(legacy)).toBe(true);
});

test('damaged or other frames are not converted', () => {
  expect(toLegacyPreview(Buffer.from([0, 0, 0, 4, 0, 0, 0, 99]))).toBeUndefined();
  expect(toLegacyPreview(Buffer.concat([u32(4), u32(3), Buffer.from('{x}')]))).toBeUndefined();
  expect(toLegacyPreview(Buffer.concat([u32(1), u32(2), image]))).toBeUndefined();
  expect(toMetadataPreview(Buffer.concat([u32(3), u32(1), image]), { promptId: 'p', node: null })).toBeUndefined();
});
