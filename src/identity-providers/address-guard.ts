import { cidrContains, parseCidr, type Cidr } from '../platform/cidr.ts';

const block = (text: string, range: string): [Cidr, string] => [parseCidr(text)!, range];

// Everything a server-side fetch must not reach: RFC 6890's special-purpose registries, less the few
// globally reachable entries that no identity provider publishes keys on.
const V4_BLOCKS: [Cidr, string][] = [
  block('0.0.0.0/8', 'unspecified'),
  block('10.0.0.0/8', 'private'),
  block('100.64.0.0/10', 'shared (carrier-grade NAT)'),
  block('127.0.0.0/8', 'loopback'),
  block('169.254.0.0/16', 'link-local'),
  block('172.16.0.0/12', 'private'),
  block('192.0.0.0/24', 'reserved'),
  block('192.0.2.0/24', 'documentation'),
  block('192.88.99.0/24', 'reserved'),
  block('192.168.0.0/16', 'private'),
  block('198.18.0.0/15', 'reserved'),
  block('198.51.100.0/24', 'documentation'),
  block('203.0.113.0/24', 'documentation'),
  block('224.0.0.0/4', 'multicast'),
  block('240.0.0.0/4', 'reserved'),
];

const V6_BLOCKS: [Cidr, string][] = [
  block('::/128', 'unspecified'),
  block('::1/128', 'loopback'),
  block('::/96', 'reserved'), // IPv4-compatible, deprecated
  block('::ffff:0:0:0/96', 'reserved'), // IPv4-translated (SIIT)
  block('64:ff9b:1::/48', 'private'), // local-use NAT64
  block('100::/64', 'reserved'),
  block('2001::/23', 'reserved'), // IETF protocol assignments, Teredo among them
  block('2001:db8::/32', 'documentation'),
  block('3fff::/20', 'documentation'),
  block('fc00::/7', 'private'),
  block('fe80::/10', 'link-local'),
  block('fec0::/10', 'link-local'),
  block('ff00::/8', 'multicast'),
];

const GLOBAL_UNICAST_V6 = parseCidr('2000::/3')!;

// IPv6 forms that carry an IPv4 address the packets really go to: the address is judged by that IPv4.
const EMBEDDING_V6: [Cidr, (value: bigint) => bigint][] = [
  [parseCidr('::ffff:0:0/96')!, (v) => v & 0xffffffffn], // IPv4-mapped
  [parseCidr('64:ff9b::/96')!, (v) => v & 0xffffffffn], // NAT64, well-known prefix
  [parseCidr('2002::/16')!, (v) => (v >> 80n) & 0xffffffffn], // 6to4
];

const single = (family: 4 | 6, network: bigint): Cidr => ({ family, network, prefix: family === 4 ? 32 : 128, text: '' });

function rangeOfV4(value: bigint): string {
  const address = single(4, value);
  return V4_BLOCKS.find(([cidr]) => cidrContains(cidr, address))?.[1] ?? 'public';
}

/**
 * What kind of address an IP literal is: `public`, or the name of the range that a fetch made on an
 * administrator's behalf must not reach (private, loopback, link-local, shared, multicast, unspecified,
 * documentation, reserved, or `not an IP address`). Brackets and IPv4-mapped forms are understood.
 */
export function addressRange(text: string): string {
  const literal = text.trim().replace(/^\[(.*)\]$/, '$1');
  const parsed = parseCidr(literal);
  if (!parsed || literal.includes('/')) return 'not an IP address';
  if (parsed.family === 4) return rangeOfV4(parsed.network);
  for (const [prefix, extract] of EMBEDDING_V6) {
    if (cidrContains(prefix, parsed)) return rangeOfV4(extract(parsed.network));
  }
  const named = V6_BLOCKS.find(([cidr]) => cidrContains(cidr, parsed));
  if (named) return named[1];
  return cidrContains(GLOBAL_UNICAST_V6, parsed) ? 'public' : 'reserved';
}
