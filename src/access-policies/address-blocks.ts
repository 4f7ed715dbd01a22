import type { Cidr } from '../platform/cidr.ts';

/** A block's first and last address as fixed-width hex (8 digits for IPv4, 32 for IPv6), which compare as strings in address order. */
function span(c: Cidr): [string, string] {
  const [bits, width] = c.family === 4 ? [32, 8] : [128, 32];
  const host = (1n << BigInt(bits - c.prefix)) - 1n;
  return [c.network.toString(16).padStart(width, '0'), (c.network | host).toString(16).padStart(width, '0')];
}

/** One family's blocks, sorted by first address (a larger block before a smaller one with the same start). */
interface Family<T> {
  first: string[];
  last: string[];
  /** The smallest other block that holds each block, or -1. */
  parent: Int32Array;
  values: T[];
}

/**
 * Address blocks (CIDRs, IPv4 and IPv6), each with a value, which finds every block holding an address
 * without looking at the others. Two CIDR blocks are either nested or apart, so sorted by first address they
 * form a forest: the blocks that hold an address are the innermost one and its ancestors, found with one
 * binary search and a walk up — at most one step per prefix length.
 */
export interface AddressBlocks<T> {
  readonly size: number;
  /** The values of the blocks holding `address` (an address, or a block), innermost first. */
  holding(address: Cidr): T[];
}

/** Builds the set; the values of blocks that are the same block (however written) are merged with `merge`. */
export function addressBlocks<T>(entries: Iterable<[Cidr, T]>, merge: (a: T, b: T) => T): AddressBlocks<T> {
  const byFamily = { 4: new Map<string, { first: string; last: string; value: T }>(), 6: new Map<string, { first: string; last: string; value: T }>() };
  for (const [cidr, value] of entries) {
    const [first, last] = span(cidr);
    const blocks = byFamily[cidr.family];
    const same = blocks.get(first + last);
    blocks.set(first + last, { first, last, value: same ? merge(same.value, value) : value });
  }
  const families = { 4: familyOf([...byFamily[4].values()]), 6: familyOf([...byFamily[6].values()]) };
  return {
    size: byFamily[4].size + byFamily[6].size,
    holding(address) {
      const family = families[address.family];
      const found: T[] = [];
      if (family.first.length === 0) return found;
      const [first, last] = span(address);
      // The last block that starts at or before the address; if it does not hold the address, the
      // innermost block that does is one of its ancestors (it starts no later, so it holds this block).
      let lo = 0;
      let hi = family.first.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (family.first[mid]! <= first) lo = mid + 1;
        else hi = mid;
      }
      let at = lo - 1;
      while (at >= 0 && family.last[at]! < last) at = family.parent[at]!;
      for (; at >= 0; at = family.parent[at]!) found.push(family.values[at]!);
      return found;
    },
  };
}

function familyOf<T>(blocks: { first: string; last: string; value: T }[]): Family<T> {
  blocks.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : a.last > b.last ? -1 : a.last < b.last ? 1 : 0));
  const parent = new Int32Array(blocks.length);
  // The blocks still open at each start: each holds the next, or ends before it.
  const open: number[] = [];
  for (const [i, block] of blocks.entries()) {
    while (open.length > 0 && blocks[open.at(-1)!]!.last < block.first) open.pop();
    parent[i] = open.at(-1) ?? -1;
    open.push(i);
  }
  return { first: blocks.map((b) => b.first), last: blocks.map((b) => b.last), parent, values: blocks.map((b) => b.value) };
}
