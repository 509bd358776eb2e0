// Binary preview frames in the two layouts ComfyUI sends. The bridge asks its backends for
// PREVIEW_IMAGE_WITH_METADATA (type 4); clients that did not negotiate it get PREVIEW_IMAGE
// (type 1), and old backends may send type 1 to clients that did.
import { BinaryEvent } from '../comfy/protocol.js';

/** PREVIEW_IMAGE's image format field. */
const FORMAT = { 'image/jpeg': 1, 'image/png': 2 } as const;

export interface PreviewMetadata {
  node_id: string | null;
  prompt_id: string;
  display_node_id: string | null;
  parent_node_id: string | null;
  real_node_id: string | null;
  image_type: string;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** The metadata and image of a type 4 frame; undefined when the frame is damaged. */
export function readMetadataPreview(frame: Buffer): { metadata: Record<string, unknown>; image: Buffer } | undefined {
  if (frame.length < 8 || frame.readUInt32BE(0) !== BinaryEvent.PREVIEW_IMAGE_WITH_METADATA) return undefined;
  const length = frame.readUInt32BE(4);
  if (8 + length > frame.length) return undefined;
  try {
    const metadata: unknown = JSON.parse(frame.subarray(8, 8 + length).toString('utf8'));
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
    return { metadata: metadata as Record<string, unknown>, image: frame.subarray(8 + length) };
  } catch {
    return undefined;
  }
}

/** Type 4 → type 1: 4-byte type, 4-byte format (1 JPEG, 2 PNG), the image. */
export function toLegacyPreview(frame: Buffer): Buffer | undefined {
  const parsed = readMetadataPreview(frame);
  if (!parsed) return undefined;
  const format = parsed.metadata.image_type === 'image/png' ? FORMAT['image/png'] : FORMAT['image/jpeg'];
  return Buffer.concat([u32(BinaryEvent.PREVIEW_IMAGE), u32(format), parsed.image]);
}

/** Type 1 → type 4, with metadata the door knows (the node that is running). */
export function toMetadataPreview(frame: Buffer, where: { promptId: string; node: string | null }): Buffer | undefined {
  if (frame.length < 8 || frame.readUInt32BE(0) !== BinaryEvent.PREVIEW_IMAGE) return undefined;
  const metadata: PreviewMetadata = {
    node_id: where.node,
    prompt_id: where.promptId,
    display_node_id: where.node,
    parent_node_id: null,
    real_node_id: where.node,
    image_type: frame.readUInt32BE(4) === FORMAT['image/png'] ? 'image/png' : 'image/jpeg',
  };
  const json = Buffer.from(JSON.stringify(metadata), 'utf8');
  return Buffer.concat([u32(BinaryEvent.PREVIEW_IMAGE_WITH_METADATA), u32(json.length), json, frame.subarray(8)]);
}
