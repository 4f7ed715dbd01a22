import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, parseCidr } from './cidr.ts';
import { formatGoDuration, parseGoDuration } from './go-duration.ts';

const c = (t: string) => {
  const parsed = parseCidr(t);
  assert.ok(parsed, t);
  return parsed;
};

describe('CIDR blocks', () => {
  it('parses IPv4 and IPv6, with and without a prefix', () => {
    assert.equal(c('10.0.0.0/8').prefix, 8);
    assert.equal(c('127.0.0.1').prefix, 32);
    assert.equal(c('2001:db8::/32').network, 0x20010db8n << 96n);
    assert.equal(c('::1').network, 1n);
    assert.equal(c('::ffff:10.1.2.3').network, (0xffffn << 32n) | (10n << 24n) | (1n << 16n) | (2n << 8n) | 3n);
    for (const bad of ['10.0.0.1/8', '300.0.0.0/8', '10.0.0.0/33', '::/129', 'example.com', '10.0.0.0/8/1', '', 'fe80::1%eth0', '10.0.0.0/-1', '1.2.3']) {
      assert.equal(parseCidr(bad), null, bad);
    }
  });

  it('tells whether one block lies inside another', () => {
    assert.equal(cidrContains(c('10.0.0.0/8'), c('10.1.0.0/16')), true);
    assert.equal(cidrContains(c('10.0.0.0/8'), c('10.0.0.0/8')), true);
    assert.equal(cidrContains(c('10.0.0.0/16'), c('10.0.0.0/8')), false);
    assert.equal(cidrContains(c('10.0.0.0/8'), c('11.0.0.0/8')), false);
    assert.equal(cidrContains(c('0.0.0.0/0'), c('127.0.0.1')), true);
    assert.equal(cidrContains(c('0.0.0.0/0'), c('::1')), false);
    assert.equal(cidrContains(c('2001:db8::/32'), c('2001:db8:1::/48')), true);
  });
});

describe('Go durations', () => {
  it('reads and writes them', () => {
    assert.equal(parseGoDuration('3m'), 180);
    assert.equal(parseGoDuration('1h30m'), 5400);
    assert.equal(parseGoDuration('1.5s'), 1.5);
    assert.equal(parseGoDuration('3 m'), null);
    assert.equal(parseGoDuration('-3m'), null);
    assert.equal(parseGoDuration('3d'), null);
    assert.equal(formatGoDuration(180), '3m');
    assert.equal(formatGoDuration(5400), '1h30m');
    assert.equal(formatGoDuration(3661), '1h1m1s');
  });
});
