// The content hash of an asset's bytes: blake3 (pure JavaScript, no native module), written
// `blake3:<64 lowercase hex>`. The bridge computes it itself while the bytes arrive; a hash a
// client sends is only ever a lookup key or something to check against.
import { blake3 } from '@noble/hashes/blake3';
import { bytesToHex } from '@noble/hashes/utils';
import type { Digest } from '../http/uploads.js';

const HASH = /^blake3:([0-9a-fA-F]{64})$/;

/** A fresh incremental blake3. */
export function newContentDigest(): Digest {
  return blake3.create();
}

/** The written form of a digest. */
export function contentHash(digest: Uint8Array): string {
  return `blake3:${bytesToHex(digest)}`;
}

/** The hash of bytes held in memory. */
export function hashOf(bytes: Uint8Array): string {
  return contentHash(blake3(bytes));
}

/** The 64 hex digits of a `blake3:<hex>` string (lowercased), or undefined when it is not one. */
export function hexOf(hash: unknown): string | undefined {
  if (typeof hash !== 'string') return undefined;
  return HASH.exec(hash)?.[1]?.toLowerCase();
}
