import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addressRange } from './address-guard.ts';

describe('address guard', () => {
  it('names the range of every address a JWKS fetch must not reach, and lets public ones through', () => {
    const table: [string, string][] = [
      // IPv4
      ['93.184.216.34', 'public'],
      ['8.8.8.8', 'public'],
      ['1.1.1.1', 'public'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', 'unspecified'],
      ['10.0.0.1', 'private'],
      ['10.255.255.255', 'private'],
      ['100.64.0.1', 'shared (carrier-grade NAT)'],
      ['100.127.255.254', 'shared (carrier-grade NAT)'],
      ['100.128.0.1', 'public'],
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['169.254.169.254', 'link-local'],
      ['172.15.255.255', 'public'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.1', 'public'],
      ['192.0.0.8', 'reserved'],
      ['192.0.2.1', 'documentation'],
      ['192.168.1.1', 'private'],
      ['198.18.0.1', 'reserved'],
      ['198.51.100.7', 'documentation'],
      ['203.0.113.9', 'documentation'],
      ['224.0.0.251', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.255', 'reserved'],
      // IPv6
      ['2606:4700::1', 'public'],
      ['2001:4860:4860::8888', 'public'],
      ['[2606:4700::1]', 'public'],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['[::1]', 'loopback'],
      ['0:0:0:0:0:0:0:1', 'loopback'],
      ['fd00::1', 'private'],
      ['fc00::1', 'private'],
      ['fe80::1', 'link-local'],
      ['[fe80::1]', 'link-local'],
      ['febf::1', 'link-local'],
      ['fec0::1', 'link-local'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'documentation'],
      ['2001::1', 'reserved'], // Teredo
      ['100::1', 'reserved'],
      ['4000::1', 'reserved'], // outside global unicast
      ['::127.0.0.1', 'reserved'], // IPv4-compatible, deprecated
      // IPv6 forms that carry an IPv4 address: judged by it
      ['::ffff:127.0.0.1', 'loopback'],
      ['[::ffff:127.0.0.1]', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['::ffff:10.0.0.1', 'private'],
      ['::ffff:100.64.0.1', 'shared (carrier-grade NAT)'],
      ['::ffff:0.0.0.0', 'unspecified'],
      ['::ffff:93.184.216.34', 'public'],
      ['64:ff9b::a9fe:a9fe', 'link-local'], // NAT64 of 169.254.169.254
      ['64:ff9b::93.184.216.34', 'public'],
      ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
      ['2002:c0a8:101::1', 'private'], // 6to4 of 192.168.1.1
      ['2002:5db8:d822::1', 'public'], // 6to4 of 93.184.216.34
      ['::ffff:0:7f00:1', 'reserved'], // IPv4-translated
      ['64:ff9b:1::1', 'private'],
      // not addresses at all
      ['localhost', 'not an IP address'],
      ['', 'not an IP address'],
      ['127.0.0.1/8', 'not an IP address'],
      ['fe80::1%eth0', 'not an IP address'],
      ['127.1', 'not an IP address'],
    ];
    const wrong = table.filter(([address, range]) => addressRange(address) !== range).map(([address, range]) => `${address}: ${addressRange(address)}, expected ${range}`);
    assert.deepEqual(wrong, []);
  });
});
