import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { createJwtVerifier, JWT_ALGORITHMS, peekJwt, TokenRejected } from '../../src/identity-providers/jwt-verifier.ts';
import type { IdpRow } from '../../src/identity-providers/identity-providers-store.ts';
import type { JwksFetcher } from '../../src/identity-providers/jwks-fetch.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { makeTestApp, scoped, type TestApp } from '../helpers/test-app.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { fuzzParams, PER_INPUT_MS, ranEnough, testTimeoutMs } from './fuzz-config.ts';
import { anyJsonText, jsonText, nastyString, numberLiteral, objectText, optional, required } from './fuzz-arbitraries.ts';

const RUNS = 300;
const ISSUER = 'https://idp.jwt-fuzz.example';
const AUD = 'a'.repeat(64);
const TOLERANCE = 30;
const KID = 'jwt-fuzz';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const JWKS = { keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' }] };

const b64url = (text: string | Buffer) => Buffer.from(text).toString('base64url');

/** An ES256 JWT whose header and claims are exactly the given JSON texts (so `1e999` or a repeated key stays as written). */
function signRaw(claims: string, opts: { header?: string; with?: KeyObject } = {}): string {
  const input = `${b64url(opts.header ?? JSON.stringify({ alg: 'ES256', kid: KID }))}.${b64url(claims)}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), { key: opts.with ?? key.privateKey, dsaEncoding: 'ieee-p1363' }))}`;
}

/**
 * A claim time as JSON text: `now` plus an offset (around every boundary the verifier has), written
 * `__NOW+300__` until the token is made, or a value of the wrong kind: huge, negative, infinite once
 * parsed, a numeric string, an array, an object.
 */
const timeText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(-1e6, -86_431, -86_430, -86_400, -3_631, -3_600, -300, -31, -30, -29, -1, 0, 1, 29, 30, 31, 60, 300, 3_600, 86_400, 86_401, 1e6, 0.5, -0.5).map((off) => `__NOW${off < 0 ? '' : '+'}${off}__`) },
  { weight: 1, arbitrary: fc.integer({ min: -200_000, max: 200_000 }).map((off) => `__NOW${off < 0 ? '' : '+'}${off}__`) },
  { weight: 2, arbitrary: fc.oneof(numberLiteral, fc.constantFrom('"NaN"', '"1750000000"', 'null', 'true', '[1]', '{}', '"now"', '1e999', '-1e999', '-0', '1e300', '-1', '0')) },
);

/** The token's audience as JSON text; `__AUD__` is the audience the verifier expects. */
const audienceText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('__AUD__', '[__AUD__]', '["x",__AUD__]') },
  { weight: 1, arbitrary: fc.constantFrom('"x"', '[]', '1', 'null', '{}', '[1]', '[null]', '[[__AUD__]]') },
);

/** Claims as a JSON text template: every claim a verifier reads, mostly plausible, often not. */
const claimsArb = fc.record({
  iss: fc.oneof({ weight: 6, arbitrary: fc.constant(JSON.stringify(ISSUER)) }, { weight: 1, arbitrary: fc.constantFrom(JSON.stringify(`${ISSUER}/`), '""', '1', 'null', JSON.stringify([ISSUER]), '{}') }),
  aud: audienceText,
  exp: timeText,
  iat: timeText,
  nbf: fc.option(timeText, { freq: 2 }),
  email: fc.oneof(
    { weight: 8, arbitrary: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('alice@example.com', 'Bob.Smith@Example.com', 'ops-1@example.com') },
      { weight: 3, arbitrary: nastyString },
      { weight: 1, arbitrary: fc.constantFrom('root@example.com', 'a@b@example.com', 'a b@example.com', '@example.com', 'a@', `${'x'.repeat(65)}@example.com`, `a@${'b'.repeat(300)}.com`, 'a\u0000@example.com', 'a\u202e@example.com', 'a@example.com\n', '\ud800@example.com') },
    ).map((e) => JSON.stringify(e)) },
    { weight: 2, arbitrary: fc.oneof(numberLiteral, fc.constantFrom('null', '[]', '["a@example.com"]', '{}', 'true')) },
    { weight: 1, arbitrary: fc.constant(null) },
  ),
  emailVerified: fc.oneof({ weight: 4, arbitrary: fc.constant('true') }, { weight: 2, arbitrary: fc.constantFrom('false', '"true"', '1', 'null', '[true]', '{}', '"false"', '0') }),
  azp: fc.option(fc.constantFrom('__AUD__', '"x"', '1', 'null'), { freq: 2 }),
  extra: fc.option(fc.tuple(fc.constantFrom('iss', 'aud', 'azp', 'exp', 'email_verified', 'sub', 'groups', '__proto__'), anyJsonText), { freq: 4 }),
}).map((c) => {
  // The extra member may repeat one above: JSON.parse keeps the last, and so must every reader.
  const members = [`"iss":${c.iss}`, `"aud":${c.aud}`, `"exp":${c.exp}`, `"iat":${c.iat}`];
  if (c.nbf !== null) members.push(`"nbf":${c.nbf}`);
  if (c.azp !== null) members.push(`"azp":${c.azp}`);
  if (c.email !== null) members.push(`"email":${c.email}`);
  members.push(`"email_verified":${c.emailVerified}`);
  if (c.extra) members.push(`${JSON.stringify(c.extra[0])}:${c.extra[1]}`);
  return `{${members.join(',')}}`;
});

/** The claims of a template, for a given time and audience. */
const fill = (template: string, now: number, audience: string) =>
  template.replace(/__NOW([+-][0-9.e]+)__/g, (_m, off: string) => String(now + Number(off))).replace(/__AUD__/g, JSON.stringify(audience));

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether a verifier must accept these claims, by the rules it states: issuer and audience match (with
 * several audiences, azp is ours); exp
 * and iat present; every time a finite, non-negative number; not expired, not before nbf, not issued in
 * the future (each with 30 s of leeway); neither older nor longer-lived than the provider allows.
 */
function claimsValid(c: unknown, audience: string, now: number, maxLifetime: number): boolean {
  if (!isObject(c)) return false;
  if (c['iss'] !== ISSUER) return false;
  const aud = c['aud'];
  if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) return false;
  // Several audiences: the token must have been issued to us (azp).
  if (Array.isArray(aud) && aud.length > 1 && c['azp'] !== audience) return false;
  const { exp, iat, nbf } = c;
  if (!isTime(exp) || !isTime(iat) || (nbf !== undefined && !isTime(nbf))) return false;
  if (exp <= now - TOLERANCE) return false;
  if (nbf !== undefined && nbf > now + TOLERANCE) return false;
  if (iat > now + TOLERANCE || now - iat > maxLifetime + TOLERANCE || exp - iat > maxLifetime) return false;
  return true;
}

const row = (fields: Partial<IdpRow> = {}): IdpRow => ({
  id: 'idp-fuzz', account_id: 'acct', name: 'fuzz', issuer: ISSUER, jwks_url: null, jwks_json: JSON.stringify(JWKS), audiences: '[]',
  client_id: null, client_secret_sealed: null, scopes: 'openid', email_claim: 'email', email_verified_required: 1, email_domains: '[]',
  max_token_lifetime: 86_400, trial_key_sealed: null, created_at: '', updated_at: '', ...fields,
});

/** A fetcher that must never be asked: every key set here is inline. */
const noFetcher: JwksFetcher = { fetch: async () => assert.fail('no key set is fetched in this suite') };

async function outcome<T>(f: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await f();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

const describeError = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e));

describe('fuzz: JWT claims — peekJwt and verify accept or refuse with TokenRejected, and accept exactly the valid claims', () => {
  it('peekJwt: any text, and three base64url parts of arbitrary JSON', () => {
    const part = fc.oneof(anyJsonText.map(b64url), nastyString, fc.constantFrom('', 'e30', 'W10', 'bnVsbA', '!!', 'e30=', ' e30', 'eyJhbGciOiJFUzI1NiJ9'));
    const header = fc.oneof(
      objectText({ alg: required(fc.constantFrom('"ES256"', '"RS256"', '"EdDSA"', '"none"', '"HS256"', '"es256"', '1', 'null', '["ES256"]', `"${'x'.repeat(300)}"`)), kid: optional(fc.constant('"k"')), typ: optional(fc.constant('"JWT"')), crit: optional(fc.constantFrom('["exp"]', '[]')) }).map(b64url),
      part,
    );
    const tokens = fc.oneof(
      nastyString,
      fc.tuple(header, part, part).map((ps) => ps.join('.')),
      fc.tuple(header, jsonText(['iss', 'aud', 'exp', 'email']).map(b64url), part, fc.constantFrom('', '.x', '.')).map(([h, p, s, more]) => `${h}.${p}.${s}${more}`),
    );
    fc.assert(fc.property(tokens, (jwt) => {
      const started = performance.now();
      let peeked: ReturnType<typeof peekJwt> | undefined;
      try {
        peeked = peekJwt(jwt);
      } catch (error) {
        assert.ok(error instanceof TokenRejected, `threw ${describeError(error)} for ${JSON.stringify(jwt.slice(0, 300))}`);
      }
      assert.ok(performance.now() - started < PER_INPUT_MS);
      if (peeked) {
        assert.ok(JWT_ALGORITHMS.includes(peeked.alg), `alg ${peeked.alg} let through`);
        assert.ok(isObject(peeked.payload), `a payload that is not an object: ${JSON.stringify(peeked.payload)}`);
      }
    }), fuzzParams(RUNS * 3));
  });

  it('verify: signed tokens with arbitrary exp, nbf, iat, aud, iss — accepted exactly when the claims are valid', async () => {
    const NOW = 1_750_000_000;
    const verifier = createJwtVerifier({ clock: { now: () => new Date(NOW * 1000) }, fetcher: noFetcher });
    const cases = fc.record({
      claims: claimsArb,
      lifetime: fc.constantFrom(60, 3_600, 86_400),
      signer: fc.constantFrom('provider', 'provider', 'provider', 'provider', 'other', 'none-alg', 'wrong-kid'),
    });
    let accepted = 0;
    await fc.assert(fc.asyncProperty(cases, async ({ claims, lifetime, signer }) => {
      const text = fill(claims, NOW, AUD);
      const jwt = signer === 'other' ? signRaw(text, { with: otherKey })
        : signer === 'none-alg' ? `${b64url('{"alg":"none"}')}.${b64url(text)}.`
          : signer === 'wrong-kid' ? signRaw(text, { header: '{"alg":"ES256","kid":"nope"}' }) : signRaw(text);
      const idp = row({ max_token_lifetime: lifetime });
      const result = await outcome(() => verifier.verify(jwt, idp, AUD));
      const label = `claims ${text} lifetime ${lifetime} signer ${signer}`;
      assert.ok(result.ms < PER_INPUT_MS, `took ${Math.round(result.ms)} ms: ${label}`);
      if (result.error !== undefined) assert.ok(result.error instanceof TokenRejected, `threw ${describeError(result.error)} for ${label}`);
      const parsed: unknown = JSON.parse(text);
      const valid = signer === 'provider' && claimsValid(parsed, AUD, NOW, lifetime);
      // The clock stands still here, so even claims a second either side of a boundary are decided exactly.
      assert.equal(result.error === undefined, valid, `${result.error === undefined ? 'accepted' : `refused (${(result.error as Error).message})`}: ${label}`);
      if (result.error === undefined) {
        accepted++;
        assert.deepEqual(result.value, parsed, `the payload is not the token's claims: ${label}`);
      }
    }), fuzzParams(RUNS));
    if (ranEnough(RUNS)) assert.ok(accepted > 0, 'no token was ever accepted: the generator makes nothing valid');
  });
});

describe('fuzz: cert_sign with signed tokens of arbitrary claims, for an app that allows everyone', () => {
  let t: TestApp;
  let app: { id: string; aud: string; domain: string };
  const keyLine = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey), 'me@laptop');
  const faults: unknown[] = [];
  const onFault = (error: unknown) => faults.push(error);

  // The app's clock stands still, so claims a second either side of a boundary are decided exactly here too.
  const NOW = Math.floor(Date.now() / 1000);

  before(async () => {
    t = await makeTestApp({ clock: { now: () => new Date(NOW * 1000) } });
    process.on('unhandledRejection', onFault);
    const tenant = await t.tenant();
    const admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write'] })).value;
    const at = (path: string) => scoped('account', tenant.accountId, path);
    const idp = await t.call('POST', at('/access/identity_providers'), { token: admin, body: { name: 'fuzz', config: { issuer: ISSUER, jwks: JWKS } } });
    assert.equal(idp.status, 201, idp.raw);
    const made = await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'jwt-fuzz', domain: 'jwt-fuzz.example.com' } });
    assert.equal(made.status, 201, made.raw);
    app = made.body.result;
    assert.equal((await t.call('POST', at(`/access/apps/${app.id}/ca`), { token: admin })).status, 200);
    await allowEveryone(t, tenant.accountId, app.id, admin);
  });
  after(async () => {
    process.off('unhandledRejection', onFault);
    await t.close();
    assert.deepEqual(faults, [], 'a fault escaped a request');
  });

  const count = async (table: 'ssh_certificates' | 'audit_events') => Number((await t.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst())?.n);

  /** An email a certificate can be issued for under the default policy: printable, one @, a usable local part that is not root. */
  const usableEmail = (v: unknown): v is string =>
    typeof v === 'string' && v.length <= 320 && v.isWellFormed() && !/[\p{C}\s]/u.test(v) && /^[^@]{1,64}@[^@]{1,255}$/.test(v)
    && /^[A-Za-z0-9._+-]+$/.test(v.slice(0, v.indexOf('@'))) && v.slice(0, v.indexOf('@')) !== 'root';

  it('never 5xx; a certificate only for valid claims, a verified email and a usable address; valid ones always get one', { timeout: testTimeoutMs(RUNS) }, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(fc.asyncProperty(claimsArb, async (claims) => {
      const text = fill(claims, NOW, app.aud);
      const parsed: unknown = JSON.parse(text);
      const [certsBefore, started] = [await count('ssh_certificates'), performance.now()];
      const jwt = signRaw(text);
      const r = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine, jwt } });
      const ms = performance.now() - started;
      const label = `${r.status} ${r.raw.slice(0, 300)} for claims ${text}`;
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.ok(r.status < 500, label);
      assert.ok(ms < PER_INPUT_MS, `took ${Math.round(ms)} ms: ${label}`);
      assert.deepEqual(faults, [], label);
      const valid = claimsValid(parsed, app.aud, NOW, 86_400);
      const c = parsed as Record<string, unknown>;
      // cert_sign takes tokens of up to 16,384 characters (its body schema); a longer one is a 400 whatever it says.
      const deserves = valid && c['email_verified'] === true && usableEmail(c['email']) && jwt.length <= 16_384;
      if (r.status === 200) {
        assert.ok(valid, `a certificate for invalid claims: ${label}`);
        assert.equal(c['email_verified'], true, `a certificate without a verified email: ${label}`);
        assert.ok(usableEmail(c['email']), `a certificate for an unusable email: ${label}`);
        const email = c['email'] as string;
        const cert = parseCertificate(Buffer.from(String(r.body.certificate).split(' ')[1]!, 'base64'));
        assert.equal(cert.keyId, `${email.toLowerCase()} cert=${r.body.id}`, label);
        assert.deepEqual(cert.principals, [email.slice(0, email.indexOf('@'))], label);
        assert.equal(await count('ssh_certificates'), certsBefore + 1, label);
      } else {
        assert.deepEqual(Object.keys(r.body ?? {}).sort(), ['message', 'status'], label);
        assert.equal(r.body.status, r.status, label);
        assert.equal(await count('ssh_certificates'), certsBefore, `a refusal recorded a certificate: ${label}`);
        assert.ok(!deserves, `valid claims refused: ${label}`);
      }
    }), fuzzParams(RUNS));
    if (ranEnough(RUNS)) assert.ok(statuses.has(200) && statuses.has(401) && statuses.has(403), `statuses ${JSON.stringify([...statuses])}`);
  });
});
