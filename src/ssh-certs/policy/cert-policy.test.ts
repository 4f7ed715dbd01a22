import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CertPolicyInput } from './cert-policy-schemas.ts';
import { decide, DEFAULT_POLICY, normalizePolicy, policyView, matchesAny, principalFromClaims } from './cert-policy.ts';

const refusedWith = (re: RegExp) => (e: { code?: number; message: string }) => e.code === 12140 && re.test(e.message);
const invalidAt = (pointer: string) => (e: { code?: number; items?: { source?: { pointer: string } }[] }) =>
  e.code === 12130 && e.items?.[0]?.source?.pointer === pointer;

describe('certificate policy', () => {
  it('defaults to Cloudflare\'s certificate: 3m, local part, three extensions, no options', () => {
    const d = decide(DEFAULT_POLICY, { requester: 'person', keyType: 'ssh-ed25519', principals: ['jdoe'] });
    assert.deepEqual(d, { principals: ['jdoe'], ttl: 180, criticalOptions: {}, extensions: { 'permit-agent-forwarding': '', 'permit-pty': '', 'permit-user-rc': '' } });
    assert.equal(principalFromClaims(DEFAULT_POLICY, 'jdoe@example.com', {}), 'jdoe');
    assert.deepEqual(normalizePolicy({}), DEFAULT_POLICY);
    assert.deepEqual(normalizePolicy(policyView(DEFAULT_POLICY) as CertPolicyInput), DEFAULT_POLICY, 'the view round-trips');
  });

  it('maps principals from the email, the local part or a claim, and checks the allow-list', () => {
    const byClaim = normalizePolicy({ principals: { from: 'claim', claim: 'unix_name', allow: ['ops-*', 'root?'] } });
    assert.equal(principalFromClaims(byClaim, 'a@b.c', { unix_name: 'ops-alice' }), 'ops-alice');
    assert.throws(() => principalFromClaims(byClaim, 'a@b.c', {}), refusedWith(/unix_name claim is not a usable login name/));
    assert.throws(() => principalFromClaims(byClaim, 'a@b.c', { unix_name: 'a,b' }), refusedWith(/not a usable login name/));
    assert.equal(principalFromClaims(normalizePolicy({ principals: { from: 'email' } }), 'a@b.c', {}), 'a@b.c');
    assert.equal(matchesAny(['ops-*'], 'ops-x'), true);
    assert.equal(matchesAny(['ops-*'], 'xops-x'), false);
    assert.equal(matchesAny(['root?'], 'root1'), true);
    assert.equal(matchesAny(['a.b'], 'aXb'), false, 'dots are literal');
    assert.throws(() => decide(byClaim, { requester: 'person', keyType: 'ssh-ed25519', principals: ['dev-x'] }), refusedWith(/principal "dev-x" is not allowed/));
  });

  it('limits TTL, key types and extensions', () => {
    const p = normalizePolicy({ ttl: '5m', max_ttl: '10m', key_types: ['ssh-ed25519'], extensions: ['permit-pty'] });
    assert.equal(decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], ttl: 600 }).ttl, 600);
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], ttl: 601 }), refusedWith(/over this application's maximum of 10m/));
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-rsa', principals: ['a'] }), refusedWith(/key type ssh-rsa is not allowed/));
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], extensions: ['permit-port-forwarding'] }), refusedWith(/extension "permit-port-forwarding"/));
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: [] }), refusedWith(/at least one principal/));
  });

  it('allows critical option values only from the policy: commands from a set, addresses within blocks', () => {
    const p = normalizePolicy({ critical_options: { force_command: { allowed: ['/bin/backup', '/bin/restore'] }, source_address: { allowed: ['10.0.0.0/8', '2001:db8::/32'], default: ['10.0.0.0/8'] } } }, 'stored');
    const d = decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], forceCommand: '/bin/restore', sourceAddress: ['10.2.0.0/16', '2001:db8:1::/48'] });
    assert.deepEqual(d.criticalOptions, { 'force-command': '/bin/restore', 'source-address': '10.2.0.0/16,2001:db8:1::/48' });
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'] }), refusedWith(/names no default/), 'a stored policy with a choice left open refuses');
    const withDefault = normalizePolicy({ critical_options: { force_command: { allowed: ['/bin/backup', '/bin/restore'], default: '/bin/backup' }, source_address: { allowed: ['10.0.0.0/8'] } } });
    assert.deepEqual(decide(withDefault, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'] }).criticalOptions,
      { 'force-command': '/bin/backup', 'source-address': '10.0.0.0/8' }, 'the defaults apply; the allowed blocks are the default addresses');
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], forceCommand: '/bin/sh' }), refusedWith(/force-command/));
    assert.throws(() => decide(p, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], forceCommand: '/bin/backup', sourceAddress: ['0.0.0.0/0'] }), refusedWith(/source-address/));
    assert.throws(() => decide(DEFAULT_POLICY, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], forceCommand: '/bin/true' }), refusedWith(/force-command/));
    assert.throws(() => decide(DEFAULT_POLICY, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'], sourceAddress: ['10.0.0.1'] }), refusedWith(/source-address/));
  });

  it('fails closed: restricted options are always carried, root is denied, automation needs an allow-list', () => {
    const one = normalizePolicy({ critical_options: { force_command: { allowed: ['/bin/backup'] } } });
    assert.deepEqual(decide(one, { requester: 'person', keyType: 'ssh-ed25519', principals: ['a'] }).criticalOptions, { 'force-command': '/bin/backup' });
    assert.throws(() => normalizePolicy({ critical_options: { force_command: { allowed: ['/a', '/b'] } } }), invalidAt('/critical_options/force_command/default'));
    assert.throws(() => decide(DEFAULT_POLICY, { requester: 'person', keyType: 'ssh-ed25519', principals: ['root'] }), refusedWith(/principal "root" is denied/));
    assert.throws(() => decide(DEFAULT_POLICY, { requester: 'person', keyType: 'ssh-ed25519', principals: ['ROOT'] }), refusedWith(/principal "ROOT" is denied/), 'deny ignores case');
    assert.deepEqual(normalizePolicy({ principals: { deny: [] } }).principals.deny, [], 'an operator can clear the deny list');
    assert.equal(decide(normalizePolicy({ principals: { deny: [] } }), { requester: 'person', keyType: 'ssh-ed25519', principals: ['root'] }).principals[0], 'root');
    assert.throws(() => decide(DEFAULT_POLICY, { requester: 'automation', keyType: 'ssh-ed25519', principals: ['deploy'] }), refusedWith(/allows no principals/));
    const deployOnly = normalizePolicy({ principals: { allow: ['deploy-*'] } });
    assert.deepEqual(decide(deployOnly, { requester: 'automation', keyType: 'ssh-ed25519', principals: ['deploy-web'] }).principals, ['deploy-web']);
    assert.throws(() => decide(deployOnly, { requester: 'automation', keyType: 'ssh-ed25519', principals: ['root'] }), refusedWith(/"root" is denied/));
    assert.throws(() => decide(deployOnly, { requester: 'automation', keyType: 'ssh-ed25519', principals: ['web'] }), refusedWith(/"web" is not allowed/));
    assert.equal(normalizePolicy(policyView(deployOnly) as CertPolicyInput).principals.deny[0], 'root', 'the view round-trips the deny list');
  });

  it('refuses policies that make no sense, naming the field', () => {
    assert.throws(() => normalizePolicy({ ttl: '2h', max_ttl: '1h' }), invalidAt('/ttl'));
    assert.throws(() => normalizePolicy({ max_ttl: '1000h' }), invalidAt('/max_ttl'));
    // A ttl above the default max_ttl is refused, not met by a silent raise of max_ttl.
    assert.throws(() => normalizePolicy({ ttl: '48h' }), (e: Error & { code?: number }) => invalidAt('/ttl')(e as never) && /set max_ttl as well/.test(e.message));
    assert.equal(normalizePolicy({ ttl: '48h', max_ttl: '48h' }).maxTtl, 172_800);
    assert.throws(() => normalizePolicy({ ttl: '1.5s' }), invalidAt('/ttl'));
    assert.throws(() => normalizePolicy({ principals: { from: 'claim' } }), invalidAt('/principals/claim'));
    assert.throws(() => normalizePolicy({ principals: { allow: ['a b'] } }), invalidAt('/principals/allow/0'));
    assert.throws(() => normalizePolicy({ extensions: ['permit-everything'] }), invalidAt('/extensions/0'));
    assert.throws(() => normalizePolicy({ critical_options: { force_command: { allowed: ['a'], default: 'b' } } }), invalidAt('/critical_options/force_command/default'));
    assert.throws(() => normalizePolicy({ critical_options: { force_command: { allowed: ['a\nb'] } } }), invalidAt('/critical_options/force_command/allowed/0'));
    assert.throws(() => normalizePolicy({ critical_options: { source_address: { allowed: ['10.0.0.1/8'] } } }), invalidAt('/critical_options/source_address/allowed/0'));
    assert.throws(() => normalizePolicy({ critical_options: { source_address: { allowed: ['10.0.0.0/8'], default: ['11.0.0.0/8'] } } }), invalidAt('/critical_options/source_address/default'));
  });
});
