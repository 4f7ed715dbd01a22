import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { parseRules, parseRule, type Rule } from './access-rules.ts';
import { evaluate, type EvalPolicy, type Person, type RuleSet } from './policy-evaluator.ts';

const IDP = '11111111-1111-4111-8111-111111111111';
const OTHER_IDP = '22222222-2222-4222-8222-222222222222';
const ADMINS = '33333333-3333-4333-8333-333333333333';
const CONTRACTORS = '44444444-4444-4444-8444-444444444444';
const LOOP = '55555555-5555-4555-8555-555555555555';
const MISSING = '66666666-6666-4666-8666-666666666666';

const rules = (...r: unknown[]): Rule[] => parseRules(r, '');
const policy = (name: string, decision: 'allow' | 'deny', include: unknown[], more: { exclude?: unknown[]; require?: unknown[] } = {}): EvalPolicy =>
  ({ id: name, name, decision, include: rules(...include), exclude: rules(...(more.exclude ?? [])), require: rules(...(more.require ?? [])) });
const set = (include: unknown[], more: { exclude?: unknown[]; require?: unknown[] } = {}): RuleSet =>
  ({ include: rules(...include), exclude: rules(...(more.exclude ?? [])), require: rules(...(more.require ?? [])) });

const groups = new Map<string, RuleSet>([
  [ADMINS, set([{ email: { email: 'root@example.com' } }, { oidc: { claim_name: 'groups', claim_value: 'admins', identity_provider_id: IDP } }])],
  [CONTRACTORS, set([{ email_domain: { domain: 'partner.example' } }], { exclude: [{ group: { id: ADMINS } }] })],
  [LOOP, set([{ group: { id: LOOP } }])],
]);

const person = (email: string, more: Partial<Person> = {}): Person => ({ email, idpId: IDP, claims: {}, ip: '10.1.2.3', ...more });

describe('Access policy evaluator', () => {
  const table: { name: string; policies: EvalPolicy[]; who: Person; allowed: boolean; by: string | null }[] = [
    { name: 'no policy: nobody', policies: [], who: person('a@example.com'), allowed: false, by: null },
    { name: 'everyone', policies: [policy('all', 'allow', [{ everyone: {} }])], who: person('a@example.com'), allowed: true, by: 'all' },
    { name: 'email matches, case-insensitively at write', policies: [policy('p', 'allow', [{ email: { email: 'A@Example.com' } }])], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'email does not match', policies: [policy('p', 'allow', [{ email: { email: 'a@example.com' } }])], who: person('b@example.com'), allowed: false, by: null },
    { name: 'email_domain matches', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }])], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'email_domain is the exact domain, not a suffix', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }])], who: person('a@evil-example.com'), allowed: false, by: null },
    { name: 'email_domain: a subdomain is another domain', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }])], who: person('a@sub.example.com'), allowed: false, by: null },
    { name: 'login_method matches the provider', policies: [policy('p', 'allow', [{ login_method: { id: IDP } }])], who: person('a@x.org'), allowed: true, by: 'p' },
    { name: 'login_method: another provider', policies: [policy('p', 'allow', [{ login_method: { id: OTHER_IDP } }])], who: person('a@x.org'), allowed: false, by: null },
    { name: 'oidc claim string', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'dept', claim_value: 'ops', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { dept: 'ops' } }), allowed: true, by: 'p' },
    { name: 'oidc claim array contains', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'groups', claim_value: 'ops', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { groups: ['dev', 'ops'] } }), allowed: true, by: 'p' },
    { name: 'oidc claim array without it', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'groups', claim_value: 'ops', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { groups: ['dev'] } }), allowed: false, by: null },
    { name: 'oidc claim from another provider', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'dept', claim_value: 'ops', identity_provider_id: OTHER_IDP } }])], who: person('a@x.org', { claims: { dept: 'ops' } }), allowed: false, by: null },
    { name: 'oidc: a number is not the string', policies: [policy('p', 'allow', [{ oidc: { claim_name: 'level', claim_value: '1', identity_provider_id: IDP } }])], who: person('a@x.org', { claims: { level: 1 } }), allowed: false, by: null },
    { name: 'ip within the block', policies: [policy('p', 'allow', [{ ip: { ip: '10.0.0.0/8' } }])], who: person('a@x.org'), allowed: true, by: 'p' },
    { name: 'ip: IPv4-mapped IPv6 client', policies: [policy('p', 'allow', [{ ip: { ip: '10.0.0.0/8' } }])], who: person('a@x.org', { ip: '::ffff:10.9.9.9' }), allowed: true, by: 'p' },
    { name: 'ip: a mapped IPv6 block is an IPv4 block', policies: [policy('p', 'deny', [{ ip: { ip: '::ffff:203.0.113.0/120' } }]), policy('all', 'allow', [{ everyone: {} }])], who: person('a@x.org', { ip: '203.0.113.5' }), allowed: false, by: 'p' },
    { name: 'ip: a proxy\'s hex-mapped client address', policies: [policy('p', 'allow', [{ ip: { ip: '203.0.113.0/24' } }])], who: person('a@x.org', { ip: '::ffff:cb00:7105' }), allowed: true, by: 'p' },
    { name: 'ip outside', policies: [policy('p', 'allow', [{ ip: { ip: '10.0.0.0/8' } }])], who: person('a@x.org', { ip: '192.168.1.1' }), allowed: false, by: null },
    { name: 'ip: no address known', policies: [policy('p', 'allow', [{ ip: { ip: '0.0.0.0/0' } }])], who: person('a@x.org', { ip: null }), allowed: false, by: null },
    { name: 'include is OR', policies: [policy('p', 'allow', [{ email: { email: 'x@x.org' } }, { email_domain: { domain: 'example.com' } }])], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'require is AND: one missing', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ email_domain: { domain: 'example.com' } }, { ip: { ip: '192.168.0.0/16' } }] })], who: person('a@example.com'), allowed: false, by: null },
    { name: 'require is AND: all present', policies: [policy('p', 'allow', [{ everyone: {} }], { require: [{ email_domain: { domain: 'example.com' } }, { ip: { ip: '10.0.0.0/8' } }] })], who: person('a@example.com'), allowed: true, by: 'p' },
    { name: 'exclude is NOT', policies: [policy('p', 'allow', [{ email_domain: { domain: 'example.com' } }], { exclude: [{ email: { email: 'mallory@example.com' } }] })], who: person('mallory@example.com'), allowed: false, by: null },
    { name: 'group include', policies: [policy('p', 'allow', [{ group: { id: ADMINS } }])], who: person('a@x.org', { claims: { groups: ['admins'] } }), allowed: true, by: 'p' },
    { name: 'group exclude', policies: [policy('p', 'allow', [{ everyone: {} }], { exclude: [{ group: { id: ADMINS } }] })], who: person('root@example.com'), allowed: false, by: null },
    { name: 'nested group with its own exclude', policies: [policy('p', 'allow', [{ group: { id: CONTRACTORS } }])], who: person('bob@partner.example'), allowed: true, by: 'p' },
    { name: 'nested group: excluded inside', policies: [policy('p', 'allow', [{ group: { id: CONTRACTORS } }])], who: person('bob@partner.example', { claims: { groups: ['admins'] } }), allowed: false, by: null },
    { name: 'precedence: deny before allow', policies: [policy('deny-partner', 'deny', [{ email_domain: { domain: 'partner.example' } }]), policy('all', 'allow', [{ everyone: {} }])], who: person('bob@partner.example'), allowed: false, by: 'deny-partner' },
    { name: 'precedence: allow before deny', policies: [policy('all', 'allow', [{ everyone: {} }]), policy('deny-partner', 'deny', [{ email_domain: { domain: 'partner.example' } }])], who: person('bob@partner.example'), allowed: true, by: 'all' },
    { name: 'a deny that does not match passes on', policies: [policy('deny-partner', 'deny', [{ email_domain: { domain: 'partner.example' } }]), policy('all', 'allow', [{ everyone: {} }])], who: person('a@example.com'), allowed: true, by: 'all' },
    { name: 'only deny policies: nobody', policies: [policy('d', 'deny', [{ email: { email: 'x@x.org' } }])], who: person('a@example.com'), allowed: false, by: null },
    { name: 'missing group: fail closed even in exclude', policies: [policy('p', 'allow', [{ everyone: {} }], { exclude: [{ group: { id: MISSING } }] })], who: person('a@example.com'), allowed: false, by: 'p' },
    { name: 'group cycle: fail closed', policies: [policy('p', 'allow', [{ group: { id: LOOP } }, { everyone: {} }])], who: person('a@example.com'), allowed: false, by: 'p' },
  ];
  for (const row of table) {
    it(row.name, () => {
      const d = evaluate(row.policies, groups, row.who);
      assert.equal(d.allowed, row.allowed, d.reason);
      assert.equal(d.policy?.id ?? null, row.by, d.reason);
    });
  }

  it('nested groups cost their distinct rules once: 100 copies of a group, 8 levels deep, answers at once', () => {
    const ids = Array.from({ length: 9 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const deep = new Map<string, RuleSet>();
    deep.set(ids[8]!, set([{ email_domain: { domain: 'example.com' } }]));
    for (let i = 7; i >= 1; i--) {
      const copies = Array.from({ length: 100 }, () => ({ group: { id: ids[i + 1]! } }));
      deep.set(ids[i]!, { include: rules(...copies), require: rules(...copies), exclude: [] });
    }
    const p = [policy('deep', 'allow', [{ group: { id: ids[1]! } }])];
    const start = performance.now();
    assert.equal(evaluate(p, deep, person('a@example.com')).allowed, true);
    assert.equal(evaluate(p, deep, person('a@other.example')).allowed, false);
    assert.ok(performance.now() - start < 1000, 'not exponential');
  });

  it('an evaluation that would look at too many rules refuses', () => {
    const many = Array.from({ length: 100 }, (_, i) => policy(`p${i}`, 'allow', Array.from({ length: 100 }, (_, j) => ({ email: { email: `x${j}@x.org` } })), { require: Array.from({ length: 100 }, (_, j) => ({ email_domain: { domain: `d${j}.example.com` } })), exclude: [{ email: { email: 'y@x.org' } }] }));
    const d = evaluate(many, groups, person('a@example.com'));
    assert.equal(d.allowed, false);
    assert.match(d.reason, /more than 20000 rules/);
  });

  it('refuses unknown rule types and bad values at write time, naming them', () => {
    const bad: [unknown, string, RegExp][] = [
      [{ geo: { country_code: 'US' } }, '/0', /rule type "geo" is not supported/],
      [{ service_token: { token_id: 'x' } }, '/0', /"service_token" is not supported/],
      [{ email: { email: 'nope' } }, '/0/email/email', /an email address/],
      [{ email: { email: 'a@b.com', extra: 1 } }, '/0/email/extra', /unknown field/],
      [{ email_domain: { domain: '*.example.com' } }, '/0/email_domain/domain', /a domain/],
      [{ ip: { ip: '10.0.0.1/8' } }, '/0/ip/ip', /host bits zero/],
      [{ group: { id: 'not-a-uuid' } }, '/0/group/id', /group id/],
      [{ oidc: { claim_name: 'a\u001b[2J', claim_value: 'v', identity_provider_id: IDP } }, '/0/oidc/claim_name', /a claim name/],
      [{ email: { email: 'a@b.com' }, everyone: {} }, '/0', /exactly one rule type/],
      ['everyone', '/0', /a rule is an object/],
    ];
    for (const [rule, pointer, message] of bad) {
      assert.throws(() => parseRules([rule], ''), (e: any) => e.code === 12130 && e.items[0].source?.pointer === pointer && message.test(e.message), JSON.stringify(rule));
    }
    assert.deepEqual(parseRule({ everyone: {} }, ''), { kind: 'everyone' });
    assert.deepEqual(parseRule({ ip: { ip: '::ffff:10.0.0.0/104' } }, ''), { kind: 'ip', cidr: '10.0.0.0/8' });
    assert.throws(() => parseRule({ email: { email: 'Bob@\u212Apmg.com' } }, ''), /an email address/, 'a Kelvin sign is not a k');
    assert.equal(parseRules([{ email: { email: 'a@b.com' } }, { email: { email: 'A@B.com' } }], '').length, 1, 'the same rule twice is kept once');
  });
});
