import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeApi, prepareSigning, startTwoNodes } from '../helpers/deployment.ts';
import { postgresUnavailable } from '../helpers/databases.ts';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { parseCertificate } from '../../src/openssh/certificate.ts';

test('two nodes on PostgreSQL sharing one SoftHSM2 token both sign for a CA whose key one of them made there', { skip: softhsmUnavailable() ?? (await postgresUnavailable()) ?? false }, async (t) => {
  const hsm = createSoftHsmToken();
  t.after(() => hsm.remove());
  const nodes = await startTwoNodes({ args: ['--pkcs11-module', hsm.module, '--pkcs11-token-label', hsm.label, '--pkcs11-pin-file', hsm.pinFile], env: hsm.env });
  t.after(() => nodes.stop());
  const signing = await prepareSigning(nodes.first, nodes.env);
  t.after(() => signing.idp.close());
  const onA = nodeApi(nodes.a, nodes.first.accountId, nodes.first.token);
  const app = (await onA('POST', '/access/apps', { name: 'shared', domain: 'shared.example.com', policies: [signing.everyone] }, 201)).body.result;
  const caKey: string = (await onA('POST', `/access/apps/${app.id}/ca`, { key_storage: 'pkcs11' }, 200)).body.result.public_key;

  // B never saw the key made: it finds it in the token by the object id the store names.
  for (const node of [nodes.b, nodes.a, nodes.b]) {
    const r = await signing.certSign(node, app.aud);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const cert = parseCertificate(Buffer.from(r.body.certificate.split(' ')[1], 'base64'));
    assert.equal(cert.signatureKey.toString('base64'), caKey.split(' ')[1]);
  }
  for (const node of [nodes.a, nodes.b]) {
    const ready = (await (await fetch(`${node.origin}/readyz`)).json()) as any;
    assert.equal(ready.checks.ca_key_token, 'ok');
  }
  for (const node of [nodes.a, nodes.b]) assert.ok(!`${node.stdout()}${node.stderr()}`.includes(hsm.pin), 'the PIN is in no log line');
});
