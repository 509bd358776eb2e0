// Which addresses a webhook may reach. A job's submitter names the URL, so without a guard the
// bridge would POST wherever it is told: its own loopback ports, the cloud metadata service, the
// private network behind it. Loopback, private, link-local, multicast, unspecified and other
// non-public addresses are refused (IPv4 and IPv6, with IPv4 inside IPv6 read as IPv4), unless
// WEBHOOK_ALLOW_PRIVATE allows them. The name is resolved once per connection and the socket
// connects to the address that was checked, so a name cannot re-resolve elsewhere in between.
import dns from 'node:dns';
import net from 'node:net';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { buildConnector } from 'undici';

/** An address as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
type Bytes = Uint8Array;

/** A block of addresses, on the same 16-byte scale (an IPv4 /n is a /96+n). */
interface Block {
  bytes: Bytes;
  bits: number;
}

/** What may be reached besides public addresses: everything, or these blocks. */
export type AddressPolicy = { allowAll: true } | { allowAll: false; allowed: readonly Block[] };

export const GUARDED: AddressPolicy = { allowAll: false, allowed: [] };

/** Thrown (as a connection error) for an address the guard refuses; never worth a retry. */
export class AddressRefused extends Error {
  readonly code = 'ERR_WEBHOOK_ADDRESS';
  readonly permanent = true;
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function v4Bytes(text: string): Bytes | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return Uint8Array.from([...MAPPED_PREFIX, ...parts.map(Number)]);
}

function v6Bytes(text: string): Bytes | undefined {
  const plain = text.replace(/%.*$/, '');
  if (net.isIPv6(plain) === false) return undefined;
  // A trailing dotted quad is the last 32 bits.
  let head = plain;
  let tail: number[] = [];
  const dotted = plain.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = v4Bytes(dotted[2]);
    if (!v4) return undefined;
    head = dotted[1].endsWith('::') ? dotted[1] : dotted[1].slice(0, -1);
    tail = [...v4.slice(12)];
  }
  const groupsWanted = 8 - tail.length / 2;
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const words = (s: string | undefined) => (s ? s.split(':').filter((w) => w !== '') : []);
  const l = words(left);
  const r = words(right);
  const fill = right === undefined ? 0 : groupsWanted - l.length - r.length;
  const groups = [...l, ...Array<string>(fill).fill('0'), ...r];
  if (groups.length !== groupsWanted) return undefined;
  const bytes: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  return Uint8Array.from([...bytes, ...tail]);
}

/** An IP address's 16 bytes, or undefined when the text is not an IP address. */
export function addressBytes(text: string): Bytes | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return net.isIPv4(bare) ? v4Bytes(bare) : v6Bytes(bare);
}

function inBlock(bytes: Bytes, block: Block): boolean {
  let bits = block.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i] & mask) !== (block.bytes[i] & mask)) return false;
  }
  return true;
}

function block(cidr: string): Block | undefined {
  const [addr, len, ...rest] = cidr.trim().split('/');
  if (rest.length) return undefined;
  const bytes = addressBytes(addr);
  if (!bytes) return undefined;
  const v4 = net.isIPv4(addr);
  const max = v4 ? 32 : 128;
  const n = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : NaN;
  if (!(n >= 0 && n <= max)) return undefined;
  return { bytes, bits: v4 ? 96 + n : n };
}

/** Blocks that are not the public internet, each with the word a refusal uses for it. */
const SPECIAL: readonly { block: Block; what: string }[] = (
  [
    ['0.0.0.0/8', 'unspecified'],
    ['10.0.0.0/8', 'private'],
    ['100.64.0.0/10', 'shared (carrier-grade NAT)'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private'],
    ['192.0.0.0/24', 'reserved'],
    ['192.0.2.0/24', 'documentation'],
    ['192.168.0.0/16', 'private'],
    ['198.18.0.0/15', 'benchmarking'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['240.0.0.0/4', 'reserved'],
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    ['100::/64', 'discard'],
    ['2001:db8::/32', 'documentation'],
    ['fc00::/7', 'private (unique local)'],
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'site-local'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([cidr, what]) => ({ block: block(cidr)!, what }));

/** IPv6 blocks that carry an IPv4 address, and at which byte: judged by that address. */
const EMBEDDING: readonly { block: Block; at: number }[] = [
  { block: block('64:ff9b::/96')!, at: 12 }, // NAT64
  { block: block('2002::/16')!, at: 2 }, // 6to4
  { block: block('::/96')!, at: 12 }, // IPv4-compatible (deprecated)
];

/** What kind of non-public address this is ("loopback", "private", …), or undefined for a public one. */
export function specialUse(address: string): string | undefined {
  const bytes = addressBytes(address);
  return bytes ? specialUseOf(bytes) : 'not an IP address';
}

function specialUseOf(bytes: Bytes): string | undefined {
  // IPv4 blocks are held as IPv4-mapped IPv6, so a mapped address meets them here too.
  for (const { block: b, what } of SPECIAL) if (inBlock(bytes, b)) return what;
  for (const { block: b, at } of EMBEDDING) {
    if (!inBlock(bytes, b)) continue;
    const inner = Uint8Array.from([...MAPPED_PREFIX, ...bytes.slice(at, at + 4)]);
    for (const { block: v4, what } of SPECIAL) if (v4.bits >= 96 && inBlock(inner, v4)) return what;
  }
  return undefined;
}

/** Why the policy refuses this address (e.g. "127.0.0.1 is loopback"), or undefined when it may be reached. */
export function refusal(address: string, policy: AddressPolicy): string | undefined {
  if (policy.allowAll) return undefined;
  const bytes = addressBytes(address);
  if (!bytes) return `${address} is not an IP address`;
  const what = specialUseOf(bytes);
  if (what === undefined) return undefined;
  if (policy.allowed.some((b) => inBlock(bytes, b))) return undefined;
  return `${address} is ${what}`;
}

/**
 * WEBHOOK_ALLOW_PRIVATE: unset, "0" or "false" keeps the guard; "1" or "true" turns it off; a
 * comma-separated list of addresses or CIDR blocks allows just those.
 */
export function parseAllowPrivate(value: string | undefined): { policy: AddressPolicy; problems: string[] } {
  const v = (value ?? '').trim();
  if (v === '' || v === '0' || v.toLowerCase() === 'false') return { policy: GUARDED, problems: [] };
  if (v === '1' || v.toLowerCase() === 'true') return { policy: { allowAll: true }, problems: [] };
  const allowed: Block[] = [];
  const problems: string[] = [];
  for (const entry of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const b = block(entry);
    if (b) allowed.push(b);
    else problems.push(`WEBHOOK_ALLOW_PRIVATE entry ${JSON.stringify(entry.slice(0, 60))} is not an address or CIDR block (e.g. 10.0.0.0/8, fd00::/8), nor 1 or 0`);
  }
  return { policy: { allowAll: false, allowed }, problems };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * Host name lookups under way at once. dns.lookup runs in libuv's thread pool, which the store's
 * file writes share: receivers whose DNS is slow may hold a few threads, never all of them.
 */
const MAX_LOOKUPS = 2;
let lookups = 0;
const waitingLookups: (() => void)[] = [];

function lookupSlot(run: (release: () => void) => void): void {
  if (lookups >= MAX_LOOKUPS) {
    waitingLookups.push(() => lookupSlot(run));
    return;
  }
  lookups++;
  let released = false;
  run(() => {
    if (released) return;
    released = true;
    lookups--;
    waitingLookups.shift()?.();
  });
}

/** dns.lookup that answers only addresses the policy allows, or an AddressRefused error. */
export function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    lookupSlot((release) => dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      release();
      if (err) return callback(err, []);
      const usable = addresses.filter((a) => refusal(a.address, policy) === undefined);
      if (usable.length === 0) {
        const why = addresses.map((a) => refusal(a.address, policy)).join(', ');
        return callback(refused(`${hostname} resolves to no public address (${why || 'none'})`), []);
      }
      if ((options as LookupAllOptions).all) callback(null, usable);
      else callback(null, usable[0].address, usable[0].family);
    }));
  };
}

function refused(reason: string): AddressRefused {
  return new AddressRefused(`refused by the address guard: ${reason}; WEBHOOK_ALLOW_PRIVATE allows such addresses`);
}

/**
 * An undici connector that connects only where the policy allows: an IP in the URL is checked as
 * is, a name through `guardedLookup`, whose checked address is the one the socket connects to.
 */
export function guardedConnector(policy: AddressPolicy, timeoutMs: number): buildConnector.connector {
  const connect = buildConnector({ timeout: timeoutMs, lookup: guardedLookup(policy) } as buildConnector.BuildOptions);
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(host)) {
      const why = refusal(host, policy);
      if (why) {
        queueMicrotask(() => callback(refused(why), null));
        return;
      }
    }
    connect(options, callback);
  };
}
