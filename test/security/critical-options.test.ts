import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { TestApp } from '../helpers/test-app.ts';
import type { TestIdp } from '../helpers/test-idp.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';
import { makeSigningFixture, type SigningFixture } from '../helpers/access-policy.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
const optionsOf = (line: string) => parseCertificate(Buffer.from(line.split(' ')[1]!, 'base64')).criticalOptions;

describe('security: a restricted critical option is never dropped — from cert_sign and from /ca/sign', () => {
  let t: TestApp;
  let admin: string;
  let idp: TestIdp;
  let app: { id: string; aud: string };
  let at: (path: string) => string;
  let fixture: SigningFixture;

  before(async () => {
    fixture = await makeSigningFixture('https://options.example');
    ({ t, admin, idp, app, at } = fixture);
  });
  after(() => fixture.close());

  const person = async () => t.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'alice@example.com' }) } });
  const automation = () => t.call('POST', at(`/access/apps/${app.id}/ca/sign`), { token: admin, body: { public_key: keyLine(), principals: ['alice'] } });
  const setPolicy = (body: unknown) => t.call('PUT', at(`/access/apps/${app.id}/ca/policy`), { token: admin, body });

  it('a policy that restricts without a default: the only allowed command, the allowed blocks, on every certificate', async () => {
    const table: [unknown, Record<string, string>][] = [
      [{ force_command: { allowed: ['/usr/bin/backup'] } }, { 'force-command': '/usr/bin/backup' }],
      [{ source_address: { allowed: ['10.0.0.0/8', '192.168.1.0/24'] } }, { 'source-address': '10.0.0.0/8,192.168.1.0/24' }],
      [{ force_command: { allowed: ['/a', '/b'], default: '/b' }, source_address: { allowed: ['10.0.0.0/8'], default: ['10.1.0.0/16'] } }, { 'force-command': '/b', 'source-address': '10.1.0.0/16' }],
    ];
    for (const [options, expected] of table) {
      assert.equal((await setPolicy({ principals: { allow: ['alice'] }, critical_options: options })).status, 200);
      for (const [who, r] of [['person', await person()], ['automation', await automation()]] as const) {
        assert.equal(r.status, 200, `${who}: ${r.raw}`);
        assert.deepEqual(optionsOf(who === 'person' ? r.body.certificate : r.body.result.certificate), expected, `${who}: ${JSON.stringify(options)}`);
      }
    }
  });

  it('a policy that restricts without a way to choose is refused when written; one stored before is refused at signing', async () => {
    const refused = await setPolicy({ critical_options: { force_command: { allowed: ['/a', '/b'] } } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.errors[0].source.pointer, '/critical_options/force_command/default');
    // As an older release could have stored it:
    const legacy = JSON.stringify({ ttl: '3m', max_ttl: '1h', backdate: '30s', principals: { from: 'email_local_part', allow: ['alice'] }, extensions: ['permit-pty'], critical_options: { force_command: { allowed: ['/a', '/b'] } }, key_types: ['ssh-ed25519'] });
    await t.db.updateTable('ssh_cert_policies').set({ policy: legacy }).where('app_id', '=', app.id).execute();
    const before = (await t.db.selectFrom('ssh_certificates').select('id').execute()).length;
    for (const r of [await person(), await automation()]) {
      assert.equal(r.status, 403, r.raw);
      assert.match(r.raw, /restricts force-command but its policy names no default/);
    }
    assert.equal((await t.db.selectFrom('ssh_certificates').select('id').execute()).length, before);
  });
});
