import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { makeTestApp, BASE, type TestApp } from '../helpers/test-app.ts';
import { statusForCode, type ErrorCode } from '../../src/platform/http/errors.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import type { Database } from '../../src/platform/db/schema.ts';
import { fuzzParams, PER_INPUT_MS, ranEnough, testTimeoutMs } from './fuzz-config.ts';
import {
  mostly, addressString, anyJsonText, arrayText, contentType, deepJsonText, domainString, durationString, emailString, idSegment,
  jsonText, nastyString, numberLiteral, objectText, optional, pageQuery, required, stringText,
} from './fuzz-arbitraries.ts';

const ALL = [
  'Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write', 'Access: SSH Certificates Sign',
] as const;
const RUNS = 120;

/** The identity provider the suite signs as: its key is its own, so a token's claims can be any JSON text. */
function makeProvider() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'fuzz-k1';
  return {
    issuer: 'https://idp.fuzz.example', kid, privateKey,
    jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] },
    other: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  };
}

/** Every table a request could write; `settings` holds only deployment metadata. */
const TABLES = [
  'accounts', 'zones', 'users', 'account_members', 'api_tokens', 'api_token_permissions', 'access_apps', 'ssh_cas', 'ssh_ca_keys',
  'ssh_cert_policies', 'identity_providers', 'access_policies', 'access_app_policies', 'access_groups', 'ssh_certificates', 'audit_events',
] as const satisfies readonly (keyof Database)[];
type Snapshot = Record<(typeof TABLES)[number], string[]>;

/** One request as generated: which contract its answer follows decides how it is checked. */
interface FuzzRequest {
  contract: 'v4' | 'cdn-cgi';
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer | undefined;
}

/** A request's auth headers: mostly a token that may do everything, sometimes less or nothing. */
type Auth = 'admin' | 'read' | 'none' | 'garbage' | 'other-account' | 'api-key' | 'malformed';

describe('fuzz: every route family answers in its contract, never 5xx, and a refused request writes nothing', { concurrency: false }, () => {
  let t: TestApp;
  const idp = makeProvider();
  /** The objects one family's requests aim at: a fresh set per family, so one family's writes do not steer another's. */
  const w = {
    accountId: '', zoneId: '', zoneName: '', otherZoneName: '', admin: '', read: '', other: '', otherAccountId: '', email: '', apiKey: '',
    appWithCa: { id: '', aud: '', domain: '' }, appWithoutCa: { id: '', aud: '', domain: '' },
    idpId: '', reusablePolicyId: '', appPolicyId: '', groupId: '', keyLines: [] as string[],
    /** What DELETE requests aim at, made again whenever one was deleted, so the fixtures above stay. */
    victims: { appId: '', appPolicyId: '', reusablePolicyId: '', groupId: '', idpId: '' },
  };
  let worlds = 0;
  const faults: unknown[] = [];
  const onFault = (error: unknown) => faults.push(error);

  const at = (path: string) => `${BASE}/accounts/${w.accountId}${path}`;
  async function must(method: string, path: string, body?: unknown, status = 201) {
    const r = await t.call(method, at(path), { token: w.admin, ...(body === undefined ? {} : { body }) });
    assert.equal(r.status, status, r.raw);
    return r.body.result;
  }

  /** A new account with an identity provider, two apps (one with a CA, a certificate policy and an allow-everyone policy), a group and a reusable policy. */
  async function newWorld(): Promise<void> {
    const n = ++worlds;
    const tenant = await t.tenant();
    const other = await t.tenant();
    Object.assign(w, {
      accountId: tenant.accountId, zoneId: tenant.zoneId, zoneName: tenant.zoneName, otherZoneName: other.zoneName, read: tenant.read, email: tenant.email, apiKey: tenant.apiKey,
      otherAccountId: other.accountId, other: other.write,
      admin: (await t.identity.createToken({ accountId: tenant.accountId, permissions: [...ALL] })).value,
    });
    w.idpId = (await must('POST', '/access/identity_providers', { name: 'fuzz', config: { issuer: idp.issuer, jwks: idp.jwks } })).id;
    w.appWithCa = await must('POST', '/access/apps', { name: 'bastion', domain: `bastion-${n}.${w.zoneName}` });
    w.appWithoutCa = await must('POST', '/access/apps', { name: 'noca', domain: `noca-${n}.${w.zoneName}` });
    await must('POST', `/access/apps/${w.appWithCa.id}/ca`, undefined, 200);
    await must('PUT', `/access/apps/${w.appWithCa.id}/ca/policy`, { principals: { allow: ['deploy', 'ops-*'], deny: ['root'] } }, 200);
    w.appPolicyId = (await must('POST', `/access/apps/${w.appWithCa.id}/policies`, { name: 'everyone', decision: 'allow', include: [{ everyone: {} }] })).id;
    w.groupId = (await must('POST', '/access/groups', { name: 'staff', include: [{ email_domain: { domain: 'example.com' } }] })).id;
    w.reusablePolicyId = (await must('POST', '/access/policies', { name: 'no contractors', decision: 'deny', include: [{ group: { id: w.groupId } }] })).id;
    w.victims = { appId: '', appPolicyId: '', reusablePolicyId: '', groupId: '', idpId: '' };
    await ensureVictims();
  }

  const exists = async (table: 'access_apps' | 'access_policies' | 'access_groups' | 'identity_providers', id: string) =>
    id !== '' && (await t.db.selectFrom(table).select('id').where('id', '=', id).executeTakeFirst()) !== undefined;

  /** Makes again whatever a DELETE removed of the victims. */
  async function ensureVictims(): Promise<void> {
    const v = w.victims;
    if (!(await exists('access_apps', v.appId))) {
      v.appId = (await must('POST', '/access/apps', { name: 'victim', domain: `victim-${++worlds}.${w.zoneName}` })).id;
      await must('POST', `/access/apps/${v.appId}/ca`, undefined, 200);
      v.appPolicyId = '';
    }
    if (!(await exists('access_policies', v.appPolicyId))) {
      v.appPolicyId = (await must('POST', `/access/apps/${v.appId}/policies`, { name: 'victim', decision: 'deny', include: [{ everyone: {} }] })).id;
    }
    if (!(await exists('access_policies', v.reusablePolicyId))) {
      v.reusablePolicyId = (await must('POST', '/access/policies', { name: 'victim', decision: 'allow', include: [{ everyone: {} }] })).id;
    }
    if (!(await exists('access_groups', v.groupId))) v.groupId = (await must('POST', '/access/groups', { name: 'victim', include: [{ everyone: {} }] })).id;
    if (!(await exists('identity_providers', v.idpId))) {
      v.idpId = (await must('POST', '/access/identity_providers', { name: 'victim', config: { issuer: `https://victim-${++worlds}.example`, jwks: idp.jwks } })).id;
    }
  }

  before(async () => {
    // JWKS URLs to private addresses are refused before any connection: no input reaches the network.
    t = await makeTestApp({ config: { allowPrivateIdpAddresses: false } });
    // A 5xx leaves its cause here (the app logs nothing in tests), so a failure report can show the stack.
    t.app.addHook('onError', async (_request, _reply, error) => {
      lastError = error;
    });
    process.on('unhandledRejection', onFault);
    process.on('uncaughtException', onFault);
    w.keyLines = [
      authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey), 'me@laptop'),
      authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)),
      authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)),
      authorizedKeyLine(publicKeyBlob(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)),
    ];
  });
  after(async () => {
    process.off('unhandledRejection', onFault);
    process.off('uncaughtException', onFault);
    await t.close();
    assert.deepEqual(faults, [], 'a fault escaped a request');
  });

  let lastError: unknown;

  async function snapshot(): Promise<Snapshot> {
    const out = {} as Snapshot;
    for (const table of TABLES) {
      const rows = await t.db.selectFrom(table).selectAll().execute();
      out[table] = rows.map((r) => JSON.stringify(r)).sort();
    }
    return out;
  }

  function diff(before: string[], after: string[]): string {
    const gone = before.filter((r) => !after.includes(r));
    const added = after.filter((r) => !before.includes(r));
    return `removed ${JSON.stringify(gone).slice(0, 600)}; added ${JSON.stringify(added).slice(0, 600)}`;
  }

  const describeRequest = (r: FuzzRequest) => {
    const payload = r.payload === undefined ? '(none)' : Buffer.isBuffer(r.payload) ? `bytes ${r.payload.toString('hex').slice(0, 300)}` : JSON.stringify(r.payload.slice(0, 400));
    return `${r.method} ${JSON.stringify(r.url.slice(0, 300))} headers=${JSON.stringify(r.headers)} payload=${payload}`;
  };

  const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

  /** The v4 envelope: `{success, errors, messages, result}`; a failure has a catalog code whose status is the HTTP status. */
  function checkV4(status: number, body: unknown, label: string): void {
    assert.ok(isPlainObject(body), `not a JSON object: ${label}`);
    assert.deepEqual(Object.keys(body).filter((k) => k !== 'result_info').sort(), ['errors', 'messages', 'result', 'success'], label);
    assert.deepEqual(body['messages'], [], label);
    if (status >= 400) {
      assert.equal(body['success'], false, label);
      assert.equal(body['result'], null, label);
      const errs = body['errors'];
      assert.ok(Array.isArray(errs) && errs.length >= 1, label);
      for (const e of errs) {
        assert.ok(isPlainObject(e) && Number.isInteger(e['code']) && typeof e['message'] === 'string' && e['message'] !== '', `error item ${JSON.stringify(e)}: ${label}`);
      }
      assert.equal(statusForCode((errs[0] as { code: ErrorCode }).code), status, `the code's status is the HTTP status: ${label}`);
    } else {
      assert.equal(body['success'], true, label);
      assert.deepEqual(body['errors'], [], label);
      assert.ok(body['result'] !== undefined, label);
      const info = body['result_info'];
      if (info !== undefined) {
        // A page says what it holds: its count, and totals that agree with each other.
        assert.ok(isPlainObject(info) && Array.isArray(body['result']), label);
        const { page, per_page: perPage, count, total_count: total, total_pages: pages } = info as { page: number; per_page: number; count: number; total_count: number; total_pages: number };
        assert.equal(count, (body['result'] as unknown[]).length, label);
        assert.ok(Number.isInteger(page) && page >= 1 && Number.isInteger(perPage) && perPage >= 1 && perPage <= 1000, label);
        assert.equal(pages, Math.ceil(total / perPage), label);
        assert.ok(count <= perPage, label);
      }
    }
  }

  /** cloudflared's form: `{status, message}` on failure, with the HTTP status repeated. */
  function checkCdnCgi(status: number, body: unknown, url: string, label: string): void {
    assert.ok(isPlainObject(body), `not a JSON object: ${label}`);
    if (status >= 400) {
      assert.deepEqual(Object.keys(body).sort(), ['message', 'status'], label);
      assert.equal(body['status'], status, label);
      assert.ok(typeof body['message'] === 'string' && body['message'] !== '', label);
    } else if (url.startsWith('/cdn-cgi/access/cert_sign')) {
      assert.deepEqual(Object.keys(body).sort(), ['certificate', 'expires_at', 'id'], label);
    } else {
      assert.deepEqual(Object.keys(body).sort(), ['aud', 'client_id', 'issuer', 'scopes'], label);
    }
  }

  /**
   * Sends one request and checks what holds for every input: an answer within the bound, no 5xx, no
   * fault escaping the request, the contract's body, nothing leaked, and for a refusal, no stored change.
   */
  async function send(r: FuzzRequest): Promise<number> {
    const label = describeRequest(r);
    const before = await snapshot();
    lastError = undefined;
    const started = performance.now();
    const res = await t.app.inject({ method: r.method as 'GET', url: r.url, headers: r.headers, ...(r.payload === undefined ? {} : { payload: r.payload }) });
    const elapsed = performance.now() - started;
    const cause = lastError instanceof Error ? `\ncause: ${lastError.stack}` : lastError === undefined ? '' : `\ncause: ${String(lastError)}`;
    assert.ok(res.statusCode >= 200 && res.statusCode < 500, `status ${res.statusCode} ${res.body.slice(0, 300)} for ${label}${cause}`);
    assert.ok(elapsed < PER_INPUT_MS, `took ${Math.round(elapsed)} ms: ${label}`);
    assert.deepEqual(faults, [], `a fault escaped the request: ${label}`);
    assert.doesNotMatch(res.body, /SQLITE_|node_modules|\.ts:\d+|\bat [\w.<>]+ \(/, `internals in the answer: ${label}`);
    if (r.method !== 'HEAD') {
      assert.match(String(res.headers['content-type']), /^application\/json/, `content-type ${res.headers['content-type']}: ${label}`);
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch {
        assert.fail(`the answer is not JSON (${res.statusCode} ${JSON.stringify(res.body.slice(0, 200))}): ${label}`);
      }
      if (res.statusCode === 409) assert.equal(res.headers['x-should-retry'], 'false', `409 without x-should-retry: false: ${label}`);
      if (r.contract === 'v4') checkV4(res.statusCode, body, `${res.statusCode} ${res.body.slice(0, 300)} for ${label}`);
      else checkCdnCgi(res.statusCode, body, r.url, `${res.statusCode} ${res.body.slice(0, 300)} for ${label}`);
    }
    if (res.statusCode >= 400) {
      const after = await snapshot();
      for (const table of TABLES) {
        if (table === 'audit_events' && r.contract === 'cdn-cgi') {
          // A refused decision about a verified person is audited by design: only refusal events may appear.
          const added = after[table].filter((row) => !before[table].includes(row));
          assert.ok(before[table].every((row) => after[table].includes(row)), `audit events removed by ${label}`);
          for (const row of added) assert.equal(JSON.parse(row).type, 'ssh_certificate.refused', `${row} after ${res.statusCode}: ${label}`);
          continue;
        }
        assert.deepEqual(after[table], before[table], `${table} changed by a ${res.statusCode} (${res.body.slice(0, 200)}): ${diff(before[table], after[table])}; ${label}`);
      }
    }
    return res.statusCode;
  }

  // ---- request building ----

  const authArb: fc.Arbitrary<Auth> = fc.oneof(
    { weight: 14, arbitrary: fc.constant('admin' as const) },
    { weight: 1, arbitrary: fc.constantFrom('read', 'none', 'garbage', 'other-account', 'api-key', 'malformed') as fc.Arbitrary<Auth> },
  );

  function authHeaders(auth: Auth): Record<string, string> {
    switch (auth) {
      case 'admin': return { authorization: `Bearer ${w.admin}` };
      case 'read': return { authorization: `Bearer ${w.read}` };
      case 'none': return {};
      case 'garbage': return { authorization: `Bearer ${'A'.repeat(40)}` };
      case 'other-account': return { authorization: `Bearer ${w.other}` };
      case 'api-key': return { 'x-auth-email': w.email, 'x-auth-key': w.apiKey };
      case 'malformed': return { authorization: 'Bearer' };
      default: {
        const unreachable: never = auth;
        return unreachable;
      }
    }
  }

  /** The scope part of a v4 path: this account mostly; its zone, another account, or no valid id now and then. */
  const scopeArb: fc.Arbitrary<() => string> = fc.oneof(
    { weight: 12, arbitrary: fc.constant(() => `accounts/${w.accountId}`) },
    { weight: 1, arbitrary: fc.constant(() => `zones/${w.zoneId}`) },
    { weight: 1, arbitrary: fc.constant(() => `accounts/${w.otherAccountId}`) },
    { weight: 1, arbitrary: fc.constant(() => `accounts/${w.accountId.toUpperCase()}`) },
    { weight: 1, arbitrary: idSegment(() => ['0'.repeat(32)]).map((s) => () => `accounts/${s}`) },
  );

  /** The body of a request: mostly the route's near-valid shape; any JSON, junk, deep nesting, oversize, bad UTF-8 or none. */
  function payloadArb(shape: fc.Arbitrary<string>, keys: string[]): fc.Arbitrary<string | Buffer | undefined> {
    return fc.oneof(
      { weight: 24, arbitrary: shape },
      { weight: 2, arbitrary: jsonText(keys) },
      { weight: 1, arbitrary: fc.json() },
      { weight: 1, arbitrary: fc.anything().map((v) => { try { return JSON.stringify(v); } catch { return undefined; } }) },
      { weight: 1, arbitrary: nastyString },
      { weight: 1, arbitrary: deepJsonText },
      { weight: 1, arbitrary: fc.constantFrom('', ' ', '{}', 'null', '[]', '"x"', '{"a":1', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', `{"name":"${'x'.repeat(70 * 1024)}"}`) },
      { weight: 1, arbitrary: fc.tuple(shape, fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.nat()).map(([text, bytes, at]) => {
        // Bytes that are not UTF-8 (a lone 0xff, an encoded surrogate, an overlong dot) spliced into the text.
        const raw = Buffer.from(text);
        const cut = at % (raw.length + 1);
        return Buffer.concat([raw.subarray(0, cut), Buffer.from(bytes), Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0xae, 0xff]), raw.subarray(cut)]);
      }) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  }

  /** A v4 request to `path` (after the scope), with the family's methods favoured. */
  function v4Request(methods: string[], path: fc.Arbitrary<string>, shape: fc.Arbitrary<string> | null, keys: string[] = []): fc.Arbitrary<FuzzRequest> {
    return fc.record({
      method: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...methods) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') }),
      scope: scopeArb,
      path,
      auth: authArb,
      type: contentType,
      payload: shape === null ? fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: payloadArb(fc.constantFrom('{}', ''), keys) }) : payloadArb(shape, keys),
    }).map(({ method, scope, path: p, auth, type, payload }) => ({
      contract: 'v4' as const,
      method,
      url: `${BASE}/${scope()}${p}`,
      headers: { ...authHeaders(auth), ...(type === undefined ? {} : { 'content-type': type }) },
      ...(payload === undefined || method === 'GET' || method === 'HEAD' ? {} : { payload }),
    }));
  }

  const appIds = () => [w.appWithCa.id, w.appWithoutCa.id];
  const appSeg = idSegment(appIds);
  const policyIds = () => [w.appPolicyId, w.reusablePolicyId];
  const idText = (known: () => string[]) => stringText(fc.integer({ min: 0, max: 99 }).map((i) => known()[i % known().length]!), fc.uuid());

  // Cloudflare's rule shapes with near-valid contents, and the odd shapes around them.
  const ruleText: fc.Arbitrary<string> = fc.oneof(
    objectText({ email: required(objectText({ email: required(stringText(emailString)) })) }),
    objectText({ email_domain: required(objectText({ domain: required(stringText(domainString)) })) }),
    fc.constantFrom('{"everyone":{}}', '{"everyone":{"x":1}}', '{"everyone":[]}', '{"everyone":null}', '{}', '{"everyone":{},"email":{"email":"a@example.com"}}', '[]', '"everyone"', 'null'),
    objectText({ group: required(objectText({ id: required(idText(() => [w.groupId])) })) }),
    objectText({ login_method: required(objectText({ id: required(idText(() => [w.idpId])) })) }),
    objectText({ oidc: required(objectText({ claim_name: required(stringText(fc.constantFrom('groups', 'sub', 'email'))), claim_value: required(stringText(fc.constantFrom('admins', 'x'))), identity_provider_id: required(idText(() => [w.idpId])) })) }),
    objectText({ ip: required(objectText({ ip: required(stringText(addressString)) })) }),
    fc.tuple(fc.constantFrom('geo', 'device_posture', 'certificate', 'service_token', 'any_valid_service_token', 'saml', 'azureAD', 'github-organization', 'common_name', 'auth_method', '__proto__', 'toString'), anyJsonText)
      .map(([k, v]) => `{${JSON.stringify(k)}:${v}}`),
  );
  const rulesText = arrayText(ruleText, 4);
  const RULE_KEYS = ['email', 'email_domain', 'everyone', 'group', 'id', 'login_method', 'oidc', 'claim_name', 'claim_value', 'identity_provider_id', 'ip', 'domain'];

  const policyBody = objectText({
    name: required(stringText(fc.constantFrom('staff', 'ops', 'a'))),
    decision: required(stringText(fc.constantFrom('allow', 'deny', 'bypass', 'non_identity', 'ALLOW', 'Allow', ''))),
    include: required(rulesText),
    exclude: optional(rulesText),
    require: optional(rulesText),
    precedence: optional(numberLiteral),
    session_duration: optional(stringText(durationString)),
    approval_required: optional(fc.constantFrom('false', 'true', '0', 'null')),
    isolation_required: optional(fc.constantFrom('false', 'true')),
    purpose_justification_required: optional(fc.constantFrom('false', 'true')),
    approval_groups: optional(fc.constantFrom('[]', '[{}]', '{}')),
  });
  const POLICY_KEYS = ['name', 'decision', 'include', 'exclude', 'require', 'precedence', 'session_duration', ...RULE_KEYS];

  const groupBody = objectText({
    name: required(stringText(fc.constantFrom('staff', 'admins'))),
    include: required(rulesText),
    exclude: optional(rulesText),
    require: optional(rulesText),
    is_default: optional(fc.constantFrom('false', 'true', '"false"')),
  });

  const appPolicyEntry = fc.oneof(
    idText(policyIds),
    objectText({ id: required(idText(policyIds)), precedence: optional(numberLiteral) }),
  );
  /**
   * Hosts that meet the host rules (identity/host-delegation.ts), filled in from the world when generated: the
   * fixtures' own hosts (taken), a new host in this account's zone (free), one in the other account's zone
   * (409 12134) and one in no zone (403 12137: the store has several accounts).
   */
  const worldHost = fc.constantFrom('{bastion}', '{noca}/x', '{BASTION}:22', 'ssh.{zone}', 'SSH.{zone}:22', 'x.{other-zone}', 'bastion-1.fuzz.example')
    .map((h) => h.replace('{bastion}', w.appWithCa.domain).replace('{BASTION}', w.appWithCa.domain.toUpperCase()).replace('{noca}', w.appWithoutCa.domain)
      .replace('{zone}', w.zoneName).replace('{other-zone}', w.otherZoneName));
  const appBody = objectText({
    name: required(stringText(fc.constantFrom('ssh', 'bastion'))),
    domain: optional(stringText(domainString, worldHost)),
    type: optional(stringText(fc.constantFrom('self_hosted', 'ssh', 'infrastructure', 'saas', 'warp', ''))),
    session_duration: optional(stringText(durationString)),
    policies: optional(arrayText(appPolicyEntry, 4)),
  });

  const textList = (item: fc.Arbitrary<string>, max = 4) => arrayText(stringText(item), max);
  const certPolicyBody = objectText({
    ttl: optional(stringText(durationString)),
    max_ttl: optional(stringText(durationString)),
    backdate: optional(stringText(durationString)),
    principals: optional(objectText({
      from: optional(stringText(fc.constantFrom('email_local_part', 'email', 'claim', 'sub'))),
      claim: optional(stringText(fc.constantFrom('preferred_username', 'sub', 'email'))),
      allow: optional(textList(fc.constantFrom('deploy', 'ops-*', '*', '?', 'a*b*c', 'root', ''))),
      deny: optional(textList(fc.constantFrom('root', '*', 'admin?'))),
    })),
    extensions: optional(textList(fc.constantFrom('permit-pty', 'permit-agent-forwarding', 'permit-user-rc', 'permit-X11-forwarding', 'no-touch-required', 'x@example.com', 'Ａ@example.com', 'unknown'))),
    critical_options: optional(objectText({
      force_command: optional(objectText({ allowed: required(textList(fc.constantFrom('/usr/bin/backup', '/bin/true', 'echo hi'))), default: optional(stringText(fc.constantFrom('/usr/bin/backup', '/bin/false'))) })),
      source_address: optional(objectText({ allowed: required(textList(addressString)), default: optional(textList(addressString)) })),
    })),
    key_types: optional(textList(fc.constantFrom('ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa', 'ssh-dss'))),
  });

  /** Public keys: real ones, real ones with a byte changed or cut, other key formats, junk. */
  const publicKeyText = (): fc.Arbitrary<string> => fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 99 }).map((i) => w.keyLines[i % w.keyLines.length]!) },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 99 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([i, at, x, cut]) => {
        const [type, b64, ...rest] = w.keyLines[i % w.keyLines.length]!.split(' ');
        const blob = Buffer.from(b64!, 'base64');
        const pos = at % blob.length;
        const changed = cut ? blob.subarray(0, pos) : Buffer.from(blob.map((b, j) => (j === pos ? b ^ x : b)));
        return [type, changed.toString('base64'), ...rest].join(' ');
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom('ssh-dss AAAAB3NzaC1kc3MAAAABBwAAAAEHAAAAAQcAAAABBw==', 'ssh-ed25519 AAAA', 'ssh-ed25519', '', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', `ssh-rsa ${'A'.repeat(16_380)}`) },
    { weight: 2, arbitrary: nastyString },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519-cert-v01@openssh.com'), fc.uint8Array({ maxLength: 600 }), nastyString).map(([type, bytes, comment]) => `${type} ${Buffer.from(bytes).toString('base64')} ${comment}`) },
  );

  const signBody = () => objectText({
    public_key: required(publicKeyText().map((s) => JSON.stringify(s))),
    principals: required(mostly(
      fc.array(stringText(fc.constantFrom('deploy', 'ops-1', 'ops-x')), { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(',')}]`),
      textList(fc.constantFrom('deploy', 'ops-1', 'root', 'eve', '', 'a b', 'ops-\u0000', 'ops-*', '*'), 3),
    )),
    ttl: optional(fc.oneof(stringText(durationString), numberLiteral)),
    key_id: optional(stringText(fc.constantFrom('build-42', 'a b', 'label=x', 'x'.repeat(65)))),
    critical_options: optional(objectText({ force_command: optional(stringText(fc.constantFrom('/usr/bin/backup', 'rm -rf /'))), source_address: optional(textList(addressString)) })),
    extensions: optional(textList(fc.constantFrom('permit-pty', 'permit-X11-forwarding', 'x@example.com'))),
  });

  const accessCheckBody = objectText({
    email: required(stringText(emailString)),
    identity_provider_id: optional(idText(() => [w.idpId])),
    claims: optional(jsonText(['groups', 'email', 'sub', 'email_verified'])),
    ip: optional(stringText(addressString)),
  });

  const urlText = fc.oneof(
    fc.constantFrom('https://10.0.0.1/jwks.json', 'https://127.0.0.1/keys', 'https://[::1]/k', 'https://169.254.169.254/latest', 'https://192.168.1.1:8443/j', 'http://login.example.com/keys', 'https://0.0.0.0/', 'https://[fe80::1]/k', 'ftp://x.example/k', 'https://user:pw@10.0.0.1/', 'https://'),
    fc.tuple(fc.constantFrom('https://10.1.2.3/', 'http://', 'https://127.0.0.1:1/'), fc.string({ unit: 'grapheme-ascii', maxLength: 30 })).map(([a, b]) => `${a}${b.replace(/\s/g, '')}`),
  );
  const jwkText = fc.oneof(
    fc.constant(JSON.stringify({ keys: [] })),
    fc.constant('__IDP_JWKS__'),
    objectText({
      kty: required(stringText(fc.constantFrom('EC', 'RSA', 'OKP', 'oct', 'ec', ''))),
      crv: optional(stringText(fc.constantFrom('P-256', 'P-384', 'Ed25519', 'X25519', 'secp256k1'))),
      x: optional(stringText(fc.constantFrom('AAAA', 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', ''))),
      y: optional(stringText(fc.constantFrom('x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', 'AA'))),
      n: optional(stringText(fc.constantFrom('AQAB', 'AA'))),
      e: optional(stringText(fc.constantFrom('AQAB', 'AAAA', ''))),
      d: optional(stringText(fc.constant('AAAA'))),
      k: optional(stringText(fc.constant('AAAA'))),
      alg: optional(stringText(fc.constantFrom('ES256', 'RS256', 'none', 'HS256'))),
      use: optional(stringText(fc.constantFrom('sig', 'enc'))),
      kid: optional(stringText(fc.constantFrom('k1', 'x'.repeat(300)))),
      key_ops: optional(fc.constantFrom('["verify"]', '["sign"]', '"verify"', '[]')),
    }).map((k) => `{"keys":[${k}]}`),
  );
  const idpBody = objectText({
    name: required(stringText(fc.constantFrom('login', 'okta'))),
    type: optional(stringText(fc.constantFrom('oidc', 'saml', 'github'))),
    config: required(objectText({
      issuer: required(stringText(fc.constantFrom('https://idp.fuzz.example', 'https://login2.example.com', 'http://a', 'https://x'), urlText)),
      jwks_url: optional(stringText(urlText)),
      jwks: optional(jwkText),
      audiences: optional(textList(fc.constantFrom('aud-1', 'x'))),
      client_id: optional(stringText(fc.constantFrom('cli', 'a b', ''))),
      client_secret: optional(stringText(fc.constantFrom('s3cret', ''))),
      scopes: optional(textList(fc.constantFrom('openid', 'email', 'offline_access', 'a"b', 'a\\b'))),
      email_claim: optional(stringText(fc.constantFrom('email', 'upn', 'a b'))),
      email_verified_required: optional(fc.constantFrom('true', 'false', '"false"', '0')),
      email_domains: optional(textList(fc.constantFrom('example.com', 'EXAMPLE.com', '*', ''))),
      max_token_lifetime: optional(stringText(durationString)),
    })),
  }).map((s) => s.replace(/"__IDP_JWKS__"|__IDP_JWKS__/g, JSON.stringify(idp.jwks)));
  const IDP_KEYS = ['name', 'type', 'config', 'issuer', 'jwks_url', 'jwks', 'keys', 'kty', 'audiences', 'client_id', 'client_secret', 'scopes', 'email_claim', 'email_verified_required', 'email_domains', 'max_token_lifetime'];

  const families: [name: string, build: () => fc.Arbitrary<FuzzRequest>][] = [
    ['/access/apps: POST and PUT bodies, GET and DELETE by id, list pages', () => fc.oneof(
      v4Request(['POST'], fc.constant('/access/apps'), appBody, ['name', 'domain', 'type', 'session_duration', 'policies', 'id', 'precedence']),
      v4Request(['PUT'], appSeg.map((id) => `/access/apps/${id}`), appBody, ['name', 'domain', 'policies']),
      v4Request(['GET'], appSeg.map((id) => `/access/apps/${id}`), null),
      v4Request(['DELETE'], idSegment(() => [w.victims.appId]).map((id) => `/access/apps/${id}`), null),
      v4Request(['GET'], pageQuery.map((q) => `/access/apps${q}`), null),
    )],
    ['/access/apps/{id}/ca: POST, GET, DELETE, and the CA list', () => fc.oneof(
      v4Request(['POST', 'GET', 'DELETE'], idSegment(() => [w.appWithCa.id, w.appWithoutCa.id, w.victims.appId]).map((id) => `/access/apps/${id}/ca`), null),
      v4Request(['GET'], pageQuery.map((q) => `/access/apps/ca${q}`), null),
    )],
    ['/access/apps/{id}/ca/policy: PUT bodies, GET', () => fc.oneof(
      { weight: 4, arbitrary: v4Request(['PUT'], appSeg.map((id) => `/access/apps/${id}/ca/policy`), certPolicyBody, ['ttl', 'principals', 'allow', 'deny', 'from', 'critical_options', 'key_types']) },
      { weight: 1, arbitrary: v4Request(['GET'], appSeg.map((id) => `/access/apps/${id}/ca/policy`), null) },
    )],
    ['/access/apps/{id}/ca/sign: POST bodies', () =>
      v4Request(['POST'], appSeg.map((id) => `/access/apps/${id}/ca/sign`), fc.oneof(
      { weight: 3, arbitrary: signBody() },
      // A request the policy allows, so that some inputs are signed and recorded.
      { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 99 }), fc.constantFrom('"deploy"', '"ops-1","deploy"'), fc.constantFrom('', ',"ttl":"5m"', ',"ttl":60', ',"key_id":"build-42"')).map(([i, p, more]) => `{"public_key":${JSON.stringify(w.keyLines[i % w.keyLines.length])},"principals":[${p}]${more}}`) },
    ), ['public_key', 'principals', 'ttl', 'key_id', 'critical_options', 'extensions'])],
    ['/access/apps/{id}/policies: POST and PUT bodies, GET, DELETE, list pages', () => fc.oneof(
      v4Request(['POST'], appSeg.map((id) => `/access/apps/${id}/policies`), policyBody, POLICY_KEYS),
      v4Request(['PUT'], fc.tuple(appSeg, idSegment(policyIds)).map(([a, p]) => `/access/apps/${a}/policies/${p}`), policyBody, POLICY_KEYS),
      v4Request(['GET'], fc.tuple(appSeg, idSegment(policyIds)).map(([a, p]) => `/access/apps/${a}/policies/${p}`), null),
      v4Request(['DELETE'], fc.tuple(idSegment(() => [w.victims.appId]), idSegment(() => [w.victims.appPolicyId, w.victims.reusablePolicyId])).map(([a, p]) => `/access/apps/${a}/policies/${p}`), null),
      v4Request(['GET'], fc.tuple(appSeg, pageQuery).map(([a, q]) => `/access/apps/${a}/policies${q}`), null),
    )],
    ['/access/policies: POST and PUT bodies, GET, DELETE, list pages', () => fc.oneof(
      v4Request(['POST'], fc.constant('/access/policies'), policyBody, POLICY_KEYS),
      v4Request(['PUT'], idSegment(policyIds).map((p) => `/access/policies/${p}`), policyBody, POLICY_KEYS),
      v4Request(['GET'], idSegment(policyIds).map((p) => `/access/policies/${p}`), null),
      v4Request(['DELETE'], idSegment(() => [w.victims.reusablePolicyId, w.reusablePolicyId]).map((p) => `/access/policies/${p}`), null),
      v4Request(['GET'], pageQuery.map((q) => `/access/policies${q}`), null),
    )],
    ['/access/groups: POST and PUT bodies, GET, DELETE, list pages', () => fc.oneof(
      v4Request(['POST'], fc.constant('/access/groups'), groupBody, ['name', 'include', 'exclude', 'require', 'is_default', ...RULE_KEYS]),
      v4Request(['PUT'], idSegment(() => [w.groupId]).map((g) => `/access/groups/${g}`), groupBody, ['name', 'include', ...RULE_KEYS]),
      v4Request(['GET'], idSegment(() => [w.groupId]).map((g) => `/access/groups/${g}`), null),
      v4Request(['DELETE'], idSegment(() => [w.victims.groupId, w.groupId]).map((g) => `/access/groups/${g}`), null),
      v4Request(['GET'], pageQuery.map((q) => `/access/groups${q}`), null),
    )],
    ['/access/apps/{id}/access_check: POST bodies', () =>
      v4Request(['POST'], appSeg.map((id) => `/access/apps/${id}/access_check`), accessCheckBody, ['email', 'identity_provider_id', 'claims', 'ip'])],
    ['/access/identity_providers: POST and PUT bodies (inline JWKS, unreachable URLs), GET, DELETE, list pages', () => fc.oneof(
      v4Request(['POST'], fc.constant('/access/identity_providers'), idpBody, IDP_KEYS),
      v4Request(['PUT'], idSegment(() => [w.idpId]).map((i) => `/access/identity_providers/${i}`), idpBody, IDP_KEYS),
      v4Request(['GET'], idSegment(() => [w.idpId]).map((i) => `/access/identity_providers/${i}`), null),
      v4Request(['DELETE'], idSegment(() => [w.victims.idpId]).map((i) => `/access/identity_providers/${i}`), null),
      v4Request(['GET'], pageQuery.map((q) => `/access/identity_providers${q}`), null),
    )],
  ];

  for (const [name, build] of families) {
    it(name, { timeout: testTimeoutMs(RUNS) }, async () => {
      await newWorld();
      const statuses = new Map<number, number>();
      await fc.assert(fc.asyncProperty(build(), async (r) => {
        const status = await send(r);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }).beforeEach(ensureVictims), fuzzParams(RUNS));
      // The inputs reach past validation: some are accepted, some refused (a generator that only made 400s would test little).
      if (ranEnough(RUNS)) assert.ok([...statuses.keys()].some((s) => s < 300), `no input was accepted: ${JSON.stringify([...statuses])}`);
    });
  }

  // ---- /cdn-cgi/access/* ----

  const b64url = (text: string | Buffer) => Buffer.from(text).toString('base64url');

  /** A token: junk, a structurally valid JWT with a made-up signature, or one signed by the provider's key or another. */
  type TokenSpec =
    | { kind: 'text'; text: string }
    | { kind: 'unsigned'; header: string; payload: string; signature: Uint8Array }
    | { kind: 'signed'; key: 'provider' | 'other'; kid: 'right' | 'none' | 'wrong'; claims: string };

  const claimsText = () => objectText({
    iss: required(mostly(fc.constant(JSON.stringify(idp.issuer)), stringText(fc.constantFrom(`${idp.issuer}/`, 'https://other.example', '')))),
    aud: required(mostly(
      // Several audiences name the app as azp (OIDC Core 3.1.3.7); the member rides in the aud's text so the draws stay as they were.
      fc.constantFrom(JSON.stringify(w.appWithCa.aud), JSON.stringify([w.appWithCa.aud]), `${JSON.stringify(['x', w.appWithCa.aud])},"azp":${JSON.stringify(w.appWithCa.aud)}`),
      stringText(fc.constantFrom(w.appWithoutCa.aud, 'f'.repeat(64))),
      arrayText(stringText(fc.constantFrom(w.appWithCa.aud, w.appWithoutCa.aud, 'x')), 3),
    )),
    exp: required(mostly(fc.constant('__NOW+300__'), fc.constant('__NOW-300__'), fc.constant('__NOW+90000__'), numberLiteral)),
    iat: required(mostly(fc.constant('__NOW__'), fc.constant('__NOW+600__'), fc.constant('__NOW-90000__'), numberLiteral)),
    nbf: optional(mostly(fc.constant('__NOW__'), fc.constant('__NOW+600__'), numberLiteral)),
    email: required(mostly(stringText(fc.constantFrom('ops-1@example.com', 'deploy@example.com')), stringText(emailString, fc.constantFrom('root@example.com', 'eve@example.com')))),
    email_verified: required(mostly(fc.constant('true'), fc.constantFrom('false', '"true"', '1', 'null', '[true]'))),
  });
  const withNow = (text: string) => {
    const now = Math.floor(Date.now() / 1000);
    return text.replace(/"?__NOW([+-]\d+)?__"?/g, (_m, d: string | undefined) => String(now + Number(d ?? 0)));
  };

  const tokenSpec = (): fc.Arbitrary<TokenSpec> => fc.oneof(
    { weight: 2, arbitrary: nastyString.map((text) => ({ kind: 'text' as const, text })) },
    { weight: 1, arbitrary: fc.constantFrom('a.b.c', '..', 'e30.e30.', 'eyJhbGciOiJub25lIn0.e30.', `${'A'.repeat(100)}.${'B'.repeat(100)}.${'C'.repeat(100)}`).map((text) => ({ kind: 'text' as const, text })) },
    {
      weight: 3,
      arbitrary: fc.record({
        header: fc.oneof(
          objectText({ alg: required(stringText(fc.constantFrom('ES256', 'RS256', 'EdDSA', 'none', 'HS256', 'ES384', 'NONE'))), kid: optional(stringText(fc.constantFrom(idp.kid, 'x'))), typ: optional(stringText(fc.constant('JWT'))), crit: optional(fc.constantFrom('["exp"]', '[]', '"b64"')), b64: optional(fc.constantFrom('false', 'true')) }),
          anyJsonText,
        ),
        payload: fc.oneof({ weight: 3, arbitrary: claimsText() }, { weight: 1, arbitrary: anyJsonText }),
        signature: fc.uint8Array({ maxLength: 80 }),
      }).map((s) => ({ kind: 'unsigned' as const, ...s })),
    },
    { weight: 10, arbitrary: fc.record({ key: fc.constantFrom('provider', 'provider', 'provider', 'other') as fc.Arbitrary<'provider' | 'other'>, kid: fc.constantFrom('right', 'right', 'right', 'none', 'wrong') as fc.Arbitrary<'right' | 'none' | 'wrong'>, claims: claimsText() }).map((s) => ({ kind: 'signed' as const, ...s })) },
  );

  function materialize(spec: TokenSpec): string {
    switch (spec.kind) {
      case 'text': return spec.text;
      case 'unsigned': return `${b64url(spec.header)}.${b64url(withNow(spec.payload))}.${b64url(Buffer.from(spec.signature))}`;
      case 'signed': {
        // The claims are signed as they were generated (text, so 1e999 stays 1e999), under a real ES256 signature.
        const header = { alg: 'ES256', ...(spec.kid === 'none' ? {} : { kid: spec.kid === 'right' ? idp.kid : 'nope' }) };
        const signingInput = `${b64url(JSON.stringify(header))}.${b64url(withNow(spec.claims))}`;
        const key = spec.key === 'provider' ? idp.privateKey : idp.other;
        return `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }))}`;
      }
      default: {
        const unreachable: never = spec;
        return unreachable;
      }
    }
  }

  it('/cdn-cgi/access/cert_sign: random keys, junk tokens, well-formed but wrong JWTs, signed tokens with odd claims', { timeout: testTimeoutMs(RUNS * 2) }, async () => {
    await newWorld();
    const statuses = new Map<number, number>();
    const body = fc.record({
      fields: objectText({
        public_key: required(publicKeyText().map((s) => JSON.stringify(s))),
        jwt: required(fc.constant('"__JWT__"')),
        hostname: optional(stringText(fc.constantFrom(w.appWithCa.domain, w.appWithoutCa.domain, w.appWithCa.domain.toUpperCase(), 'other.example'), domainString)),
        issuer: optional(stringText(fc.constantFrom(idp.issuer, 'x'))),
      }),
      token: tokenSpec(),
      type: contentType,
      bytes: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      // Now and then the provider's keys are replaced first: by another key under the same kid, or by any JWKS.
      keys: fc.oneof(
        { weight: 10, arbitrary: fc.constant('real' as const) },
        { weight: 1, arbitrary: fc.constant('other' as const) },
        { weight: 1, arbitrary: jwkText },
      ),
    });
    const otherJwks = { keys: [{ ...createPublicKey(idp.other).export({ format: 'jwk' }), kid: idp.kid, alg: 'ES256', use: 'sig' }] };
    await fc.assert(fc.asyncProperty(body, async ({ fields, token, type, bytes, keys: asked }) => {
      let keys = asked;
      if (keys !== 'real') {
        const jwks = keys === 'other' ? JSON.stringify(otherJwks) : keys.replace(/"__IDP_JWKS__"|__IDP_JWKS__/g, JSON.stringify(idp.jwks));
        // A key set the server refuses (say, no keys at all) leaves the provider's real keys in place.
        const replaced = await send({
          contract: 'v4', method: 'PUT', url: at(`/access/identity_providers/${w.idpId}`), headers: { authorization: `Bearer ${w.admin}`, 'content-type': 'application/json' },
          payload: `{"name":"fuzz","config":{"issuer":${JSON.stringify(idp.issuer)},"jwks":${jwks}}}`,
        });
        if (replaced !== 200) keys = 'real';
      }
      const jwt = materialize(token);
      const text = fields.replace('"__JWT__"', JSON.stringify(jwt));
      const r: FuzzRequest = {
        contract: 'cdn-cgi', method: 'POST', url: '/cdn-cgi/access/cert_sign',
        headers: type === undefined ? {} : { 'content-type': type },
        payload: bytes ? Buffer.concat([Buffer.from(text), Buffer.from([0xff, 0xed, 0xa0, 0x80])]) : text,
      };
      const status = await send(r);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      // A certificate needs a token signed by a key the provider publishes now: never junk, a made-up signature or a key it no longer lists.
      const publishes = (k: 'provider' | 'other') => (k === 'other' ? keys === 'other' : keys === 'real' || (keys !== 'other' && keys.includes('__IDP_JWKS__')));
      if (status === 200) assert.ok(token.kind === 'signed' && publishes(token.key), `a certificate for ${JSON.stringify(token)} with keys ${JSON.stringify(keys)}`);
      if (asked !== 'real') await must('PUT', `/access/identity_providers/${w.idpId}`, { name: 'fuzz', config: { issuer: idp.issuer, jwks: idp.jwks } }, 200);
    }), fuzzParams(RUNS * 2));
    if (ranEnough(RUNS * 2)) {
      assert.ok(statuses.has(200), `no certificate was ever issued: ${JSON.stringify([...statuses])}`);
      assert.ok(statuses.has(401) && statuses.has(400), `statuses ${JSON.stringify([...statuses])}`);
    }
  });

  it('/cdn-cgi/access/app?hostname=: random, repeated, missing and malformed hostnames', { timeout: testTimeoutMs(RUNS) }, async () => {
    await newWorld();
    const query = fc.oneof(
      fc.oneof(fc.constantFrom(w.appWithCa.domain, w.appWithCa.domain.toUpperCase(), w.appWithoutCa.domain, `${w.appWithCa.domain}.`), domainString).map((h) => `?hostname=${encodeURIComponent(h)}`),
      nastyString.map((h) => `?hostname=${encodeURIComponent(h.toWellFormed())}`),
      fc.constantFrom('', '?', '?hostname', '?hostname=', '?hostname=a&hostname=b', '?hostname[]=a', '?hostname=%', '?hostname=%zz', '?hostname=%00', `?hostname=${'a'.repeat(300)}`, '?hostname=a..b', '?HOSTNAME=bastion.fuzz.example', '?hostname=%ed%a0%80'),
    );
    await fc.assert(fc.asyncProperty(query, fc.constantFrom('GET', 'GET', 'GET', 'HEAD'), async (q, method) => {
      await send({ contract: 'cdn-cgi', method, url: `/cdn-cgi/access/app${q}`, headers: {} });
    }), fuzzParams(RUNS));
  });
});

