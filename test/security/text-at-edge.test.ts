import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { makeTestApp, scoped, type Tenant, type TestApp } from '../helpers/test-app.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { postgresTestDatabase, postgresUnavailable, type TestDatabase } from '../helpers/databases.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const ALL = ['Access: Apps and Policies Write', 'Access: Organizations, Identity Providers, and Groups Write', 'Access: SSH Certificates Sign'];

/** Text that must never reach a certificate, a store, a log or a terminal. */
const BAD_TEXT: [string, string][] = [
  ['NUL', '\u0000'], ['ESC sequence', '\u001b]0;pwned\u0007'], ['bell', '\u0007'], ['DEL', '\u007f'], ['C1 CSI', '\u009b31m'],
  ['lone high surrogate', '\ud800'], ['lone low surrogate', '\udfff'], ['backspace', '\u0008'],
];
const NAME_ONLY: [string, string][] = [['newline', 'a\nb'], ['bidi override', '\u202eevil'], ['zero-width joiner alone', 'a\u200bb']];

const pgSkip = await postgresUnavailable();

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`security (${engine}): text is validated at the edge — 4xx naming the field, nothing written, nothing signed`, { skip: engine === 'postgres' ? pgSkip ?? false : false }, () => {
    let t: TestApp;
    let pg: TestDatabase | undefined;
    let tenant: Tenant;
    let admin: string;
    let idp: TestIdp;
    let app: { id: string; aud: string };
    const at = (path: string) => scoped('account', tenant.accountId, path);

    before(async () => {
      pg = engine === 'postgres' ? await postgresTestDatabase() : undefined;
      t = await makeTestApp(pg ? { databaseUrl: pg.url } : {});
      tenant = await t.tenant();
      admin = (await t.identity.createToken({ accountId: tenant.accountId, permissions: ALL })).value;
      idp = await makeTestIdp(`https://text-${engine}.example`);
      assert.equal((await t.call('POST', at('/access/identity_providers'), { token: admin, body: { name: 'p', config: { issuer: idp.issuer, jwks: idp.jwks } } })).status, 201);
      app = (await t.call('POST', at('/access/apps'), { token: admin, body: { name: 'ok', domain: `text-${randomUUID()}.example.com` } })).body.result;
      await t.call('POST', at(`/access/apps/${app.id}/ca`), { token: admin });
      await t.call('POST', at(`/access/apps/${app.id}/policies`), { token: admin, body: { name: 'all', decision: 'allow', include: [{ everyone: {} }] } });
    });
    after(async () => {
      await t?.close();
      await idp?.close();
      await pg?.drop();
    });

    const snapshot = async () => Promise.all(['access_apps', 'identity_providers', 'access_policies', 'access_groups', 'ssh_cert_policies', 'ssh_certificates'].map((table) =>
      t.db.selectFrom(table as 'access_apps').selectAll().execute()));

    it('every text field of every write refuses controls, NUL and unpaired surrogates (names also newlines and bidi controls)', async () => {
      const fields: [string, string, (bad: string) => unknown, string, boolean][] = [
        ['app name', '/access/apps', (b) => ({ name: `x${b}`, domain: `n${randomUUID()}.example.com` }), '/name', true],
        ['provider name', '/access/identity_providers', (b) => ({ name: `x${b}`, config: { issuer: 'https://n.example', jwks: idp.jwks } }), '/name', true],
        ['provider email_claim', '/access/identity_providers', (b) => ({ name: 'x', config: { issuer: 'https://n2.example', jwks: idp.jwks, email_claim: `e${b}` } }), '/config/email_claim', true],
        ['provider audience', '/access/identity_providers', (b) => ({ name: 'x', config: { issuer: 'https://n3.example', jwks: idp.jwks, audiences: [`a${b}`] } }), '/config/audiences/0', true],
        ['policy name', `/access/apps/${app.id}/policies`, (b) => ({ name: `x${b}`, decision: 'allow', include: [{ everyone: {} }] }), '/name', true],
        ['group name', '/access/groups', (b) => ({ name: `x${b}`, include: [{ everyone: {} }] }), '/name', true],
        ['oidc claim value', '/access/groups', (b) => ({ name: 'g', include: [{ oidc: { claim_name: 'c', claim_value: `v${b}`, identity_provider_id: randomUUID() } }] }), '/include/0/oidc/claim_value', false],
        ['a field name', '/access/groups', (b) => ({ name: 'g', include: [{ everyone: {} }], [`k${b}`]: 1 }), '/', false],
      ];
      const before = await snapshot();
      for (const [field, path, body, pointer, isName] of fields) {
        for (const [what, bad] of [...BAD_TEXT, ...(isName ? NAME_ONLY : [])]) {
          const r = await t.call('POST', at(path), { token: admin, body: body(bad) });
          assert.equal(r.status, 400, `${field} with ${what}: ${r.raw}`);
          assert.equal(r.body.errors[0].code, 12130, `${field} with ${what}`);
          assert.equal(r.body.errors[0].source?.pointer, pointer, `${field} with ${what}: ${r.raw}`);
        }
      }
      const policy = await t.call('PUT', at(`/access/apps/${app.id}/ca/policy`), { token: admin, body: { critical_options: { force_command: { allowed: ['/bin/x\u001b[2J'] } } } });
      assert.equal(policy.status, 400, 'a command with an escape sequence');
      assert.deepEqual(await snapshot(), before, 'nothing was written');
    });

    it('identity tokens whose email carries such text are refused before anything is signed', async () => {
      const count = async () => (await t.db.selectFrom('ssh_certificates').select('id').execute()).length;
      const issued = await count();
      for (const [what, bad] of [...BAD_TEXT, ['bidi override', '\u202e'], ['space', ' ']]) {
        for (const email of [`a${bad}b@example.com`, `ab@exa${bad}mple.com`]) {
          const r = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email }) } });
          assert.equal(r.status, 401, `${what}: ${r.raw}`);
          assert.match(r.body.message, /no email claim with a usable email address/);
        }
      }
      assert.equal(await count(), issued, 'nothing was signed or recorded');
      const ok = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'Ünïcode.ok@example.com' }) } });
      assert.equal(ok.status, 403, 'a printable non-ASCII email is an identity; it just makes no login name');
      const plain = await t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'plain@example.com' }) } });
      assert.equal(plain.status, 200, plain.raw);
      const keyId = parseCertificate(Buffer.from(plain.body.certificate.split(' ')[1], 'base64')).keyId;
      assert.match(keyId, /^[\x21-\x7e]+( [\x21-\x7e]+)*$/, 'the key id sshd logs is printable');
    });
  });
}
