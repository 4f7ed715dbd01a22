import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cidrContains, parseCidr, type Cidr } from '../platform/cidr.ts';
import { addressBlocks } from './address-blocks.ts';
import { fuzzParams } from '../../test/fuzz/fuzz-config.ts';

const cidr = (text: string): Cidr => parseCidr(text) ?? assert.fail(text);

/** A block of `prefix` bits holding `address`, written as parseCidr takes it (a mapped IPv4 address stays IPv6). */
function blockOf(address: string, prefix: number): Cidr {
  const a = cidr(address);
  const bits = a.family === 4 ? 32 : 128;
  const network = prefix === 0 ? 0n : (a.network >> BigInt(bits - prefix)) << BigInt(bits - prefix);
  const text = a.family === 4
    ? [24n, 16n, 8n, 0n].map((s) => String((network >> s) & 255n)).join('.')
    : network.toString(16).padStart(32, '0').match(/.{4}/g)!.join(':');
  return cidr(`${text}/${prefix}`);
}

// Few base addresses, so that blocks nest, share a first or last address, and hold the addresses asked about.
const BASES = ['10.1.2.3', '10.1.2.255', '10.0.0.0', '10.255.255.255', '192.168.1.7', '2001:db8::1', '2001:db8::ffff', '2001:db8:0:1::', '::1', '::ffff:10.1.2.3'];
const blockArb = fc.tuple(fc.constantFrom(...BASES), fc.integer({ min: 0, max: 128 })).map(([base, prefix]) => blockOf(base, Math.min(prefix, base.includes(':') ? 128 : 32)));
/** An address near the bases: one of them, or the first or last address of a block around one. */
const addressArb = fc.oneof(
  fc.constantFrom(...BASES).map(cidr),
  fc.tuple(blockArb, fc.boolean()).map(([b, last]) => {
    const bits = b.family === 4 ? 32 : 128;
    const host = (1n << BigInt(bits - b.prefix)) - 1n;
    return { ...b, network: last ? b.network | host : b.network, prefix: bits };
  }),
  blockArb,
);

describe('address blocks', () => {
  it('finds exactly the blocks that hold an address (or a block), as checking each block would', () => {
    fc.assert(fc.property(fc.array(blockArb, { maxLength: 40 }), fc.array(addressArb, { minLength: 1, maxLength: 8 }), (blocks, addresses) => {
      const set = addressBlocks(blocks.map((b, i): [Cidr, number[]] => [b, [i]]), (a, b) => [...a, ...b]);
      for (const address of addresses) {
        const expected = blocks.flatMap((b, i) => (cidrContains(b, address) ? [i] : [])).sort((x, y) => x - y);
        const found = set.holding(address);
        assert.deepEqual(found.flat().sort((x, y) => x - y), expected, `${address.text ?? address.network} in ${blocks.map((b) => b.text).join(' ')}`);
        // Innermost first: each block found holds the one before it.
        for (let i = 1; i < found.length; i++) assert.ok(cidrContains(blocks[found[i]![0]!]!, blocks[found[i - 1]![0]!]!));
      }
    }), fuzzParams(2_000));
  });

  it('one block written two ways is one block, with both values', () => {
    const set = addressBlocks<string[]>([[cidr('2001:db8::/32'), ['a']], [cidr('2001:0db8::/32'), ['b']], [cidr('10.0.0.0/8'), ['c']]], (a, b) => [...a, ...b]);
    assert.equal(set.size, 2);
    assert.deepEqual(set.holding(cidr('2001:db8::5')), [['a', 'b']]);
    assert.deepEqual(set.holding(cidr('11.0.0.0')), []);
  });
});
