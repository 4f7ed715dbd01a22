import { isIP } from 'node:net';

/**
 * An IPv4 address that arrives mapped into IPv6 (`::ffff:10.1.2.3`, or `::ffff:a01:203` from a proxy) as
 * plain IPv4, so that rules and limits written for IPv4 see it; anything else as it is.
 */
export function unmappedAddress(address: string): string {
  const dotted = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(address)?.[1];
  if (dotted) return dotted;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return address;
  const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Who a client is, for counting: IPv4 (also when mapped into IPv6) as is, IPv6 by its /64. */
export function clientKey(raw: string): string {
  const address = unmappedAddress(raw);
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
