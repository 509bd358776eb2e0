// The address guard's rules: which addresses are not the public internet, IPv4 inside IPv6 read
// as IPv4, and what WEBHOOK_ALLOW_PRIVATE lets through.
import { GUARDED, addressBytes, parseAllowPrivate, refusal, specialUse } from '../../src/webhooks/address-guard.js';

describe('specialUse', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'benchmarking'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fd12:3456::1', 'private (unique local)'],
    ['fc00::1', 'private (unique local)'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    // IPv4 inside IPv6 is judged as the IPv4 address it carries.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::192.168.0.1', 'private'],
    ['2002:7f00:1::1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['[::1]', 'loopback'],
  ])('%s is %s', (address, what) => {
    expect(specialUse(address)).toBe(what);
  });

  test.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2a00:1450:4001:80e::200e'])(
    '%s is public',
    (address) => {
      expect(specialUse(address)).toBeUndefined();
    },
  );

  test('text that is no IP address is never public', () => {
    expect(specialUse('localhost')).toBe('not an IP address');
    expect(specialUse('127.1')).toBe('not an IP address');
    expect(addressBytes('1.2.3.256')).toBeUndefined();
  });

  test('IPv6 forms are read to the same bytes', () => {
    expect(addressBytes('::ffff:127.0.0.1')).toEqual(addressBytes('127.0.0.1'));
    expect(addressBytes('0:0:0:0:0:ffff:7f00:0001')).toEqual(addressBytes('127.0.0.1'));
    expect(addressBytes('2001:db8:0:0:1:0:0:1')).toEqual(addressBytes('2001:db8::1:0:0:1'));
  });
});

describe('refusal under a policy', () => {
  test('the default guard refuses non-public addresses and says why', () => {
    expect(refusal('127.0.0.1', GUARDED)).toBe('127.0.0.1 is loopback');
    expect(refusal('8.8.8.8', GUARDED)).toBeUndefined();
  });

  test('WEBHOOK_ALLOW_PRIVATE=1 allows everything; 0 or unset keeps the guard', () => {
    expect(refusal('127.0.0.1', parseAllowPrivate('1').policy)).toBeUndefined();
    expect(refusal('127.0.0.1', parseAllowPrivate('true').policy)).toBeUndefined();
    for (const off of [undefined, '', '0', 'false']) expect(refusal('127.0.0.1', parseAllowPrivate(off).policy)).toBe('127.0.0.1 is loopback');
  });

  test('a list allows just those blocks, also written as IPv4-mapped IPv6', () => {
    const { policy, problems } = parseAllowPrivate('10.0.0.0/8, 127.0.0.2, fd00::/8');
    expect(problems).toEqual([]);
    expect(refusal('10.9.8.7', policy)).toBeUndefined();
    expect(refusal('::ffff:10.9.8.7', policy)).toBeUndefined();
    expect(refusal('127.0.0.2', policy)).toBeUndefined();
    expect(refusal('127.0.0.1', policy)).toBe('127.0.0.1 is loopback');
    expect(refusal('fd00::5', policy)).toBeUndefined();
    expect(refusal('fe80::1', policy)).toBe('fe80::1 is link-local');
    expect(refusal('192.168.0.1', policy)).toBe('192.168.0.1 is private');
  });

  test('a malformed list entry is a problem that names the setting', () => {
    const { problems } = parseAllowPrivate('10.0.0.0/33,banana,1.2.3.4/8/1');
    expect(problems).toHaveLength(3);
    for (const p of problems) expect(p).toMatch(/^WEBHOOK_ALLOW_PRIVATE entry /);
  });
});
