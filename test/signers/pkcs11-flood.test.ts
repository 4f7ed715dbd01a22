import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { makeTestApp, scoped } from '../helpers/test-app.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { allowEveryone } from '../helpers/access-policy.ts';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { openPkcs11Token } from '../../src/signers/pkcs11-token.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

test('a flood of cert_sign above the token\'s queue bound: 503s with retry-after at once, the rest signed, no request waiting unbounded', { skip: softhsmUnavailable() ?? false }, async (t) => {
  const hsm = createSoftHsmToken();
  process.env['SOFTHSM2_CONF'] = hsm.conf;
  // One session and one waiting place: a second signature waiting is refused at once.
  const token = openPkcs11Token({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin, sessions: 1, maxWaiting: 1, maxWaitMs: 1000 }, { log: quiet });
  const h = await makeTestApp({ caKeyToken: token });
  const idp = await makeTestIdp();
  t.after(async () => {
    await h.close();
    await token.close();
    await idp.close();
    hsm.remove();
  });
  const tenant = await h.tenant();
  const admin = (await h.identity.createToken({ accountId: tenant.accountId, permissions: ['Access: Organizations, Identity Providers, and Groups Write', 'Access: Apps and Policies Write'] })).value;
  assert.equal((await h.call('POST', scoped('account', tenant.accountId, '/access/identity_providers'), { token: admin, body: { name: 'idp', config: { issuer: idp.issuer, jwks: idp.jwks } } })).status, 201);
  const app = (await h.call('POST', scoped('account', tenant.accountId, '/access/apps'), { token: admin, body: { name: 'flood', domain: 'flood.example.com' } })).body.result;
  assert.equal((await h.call('POST', scoped('account', tenant.accountId, `/access/apps/${app.id}/ca`), { token: admin, body: { key_storage: 'pkcs11' } })).status, 200);
  await allowEveryone(h, tenant.accountId, app.id, admin);
  const publicKey = authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));
  const jwt = await idp.sign({ aud: [app.aud], email: 'flood@example.com' }, { expiresIn: '10m' });
  // Warm: the token, the caches and the checked key; then the flood.
  assert.equal((await h.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: publicKey, jwt } })).status, 200);

  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 200 }, async () => {
    const r = await h.call('POST', '/cdn-cgi/access/cert_sign', { body: { public_key: publicKey, jwt } });
    return { ...r, ms: Date.now() - started };
  }));
  const busy = answers.filter((a) => a.status === 503);
  const signed = answers.filter((a) => a.status === 200);
  assert.equal(busy.length + signed.length, answers.length, `only 200 and 503: ${[...new Set(answers.map((a) => a.status))]}`);
  assert.ok(busy.length > 0, 'some were past the bound');
  assert.ok(signed.length > 0, 'the token kept signing');
  for (const a of busy) {
    assert.equal(a.headers['retry-after'], '1');
    assert.equal(a.body.message, 'The PKCS#11 token that holds this CA\'s key is busy; retry the request');
  }
  // A refusal is at once, and a wait for a session is bounded by maxWaitMs: the whole flood ends well within that.
  assert.ok(Math.max(...answers.map((a) => a.ms)) < 10_000, 'no request waited unbounded');
  const metrics = (await h.call('GET', '/metrics')).raw;
  assert.match(metrics, new RegExp(`^access_ca_signer_errors_total\\{kind="busy"\\} ${busy.length}$`, 'm'));
  t.diagnostic(`${signed.length} signed, ${busy.length} refused with 503 in ${Date.now() - started} ms`);
});
