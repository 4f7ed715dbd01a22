import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { runCliInProcess, startServer } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const skip = softhsmUnavailable();

test('serve --pkcs11-*: the three flags go together and the PIN file must be 0600 or stricter, refused without echoing the PIN', async () => {
  const dir = testTempDir('access-ca-pkcs11-flags-');
  const pinFile = join(dir, 'pin');
  const pin = 'pin-that-must-not-show-4711';
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o644 });
  chmodSync(pinFile, 0o644);
  const serve = (args: string[], env: Record<string, string> = {}) => runCliInProcess(['--data-dir', join(dir, 'data'), 'serve', '--listen', '127.0.0.1:0', ...args], env);

  const open = await serve(['--pkcs11-module', '/usr/lib/softhsm/libsofthsm2.so', '--pkcs11-token-label', 'ca', '--pkcs11-pin-file', pinFile]);
  assert.equal(open.code, 2, open.stderr);
  assert.match(open.stderr, /--pkcs11-pin-file: .* has mode 0644; it holds the token's PIN: make it 0600 or stricter/);

  const partial = await serve(['--pkcs11-module', '/usr/lib/softhsm/libsofthsm2.so'], { ACCESS_CA_PKCS11_PIN_FILE: pinFile });
  assert.equal(partial.code, 2);
  assert.match(partial.stderr, /missing --pkcs11-token-label$/m);

  chmodSync(pinFile, 0o600);
  const storage = await serve(['--ca-key-storage', 'pkcs11']);
  assert.equal(storage.code, 2);
  assert.match(storage.stderr, /--ca-key-storage pkcs11 needs a token/);
  const unknown = await serve(['--ca-key-storage', 'vault']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--ca-key-storage must be one of sealed, pkcs11/);

  for (const r of [open, partial, storage, unknown]) assert.ok(!`${r.stdout}${r.stderr}`.includes(pin), 'the PIN is never echoed');
});

test('a real serve with a SoftHSM2 token: --ca-key-storage pkcs11 puts new CAs\' keys in it; /readyz checks it; a wrong PIN still serves, not ready, saying why; no token at all is refused', { skip: skip ?? false }, async (t) => {
  const hsm = createSoftHsmToken();
  t.after(() => hsm.remove());
  const flags = ['--pkcs11-module', hsm.module, '--pkcs11-token-label', hsm.label, '--pkcs11-pin-file', hsm.pinFile];
  const env = { ...hsm.env, ACCESS_CA_LOG_LEVEL: 'info' };

  const server = await startServer({ args: [...flags, '--ca-key-storage', 'pkcs11'], env });
  try {
    assert.match(server.stderr(), new RegExp(`CA keys can be kept in the PKCS#11 token "${hsm.label}" .*; new CAs' keys are made there`));
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${server.base}/accounts/${server.accountId}${path}`, {
        method, headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as any };
    };
    const app = await api('POST', '/access/apps', { name: 'held', domain: 'held.example.com' });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const ca = await api('POST', `/access/apps/${app.body.result.id}/ca`);
    assert.equal(ca.status, 200, JSON.stringify(ca.body));
    const ready = await fetch(`${server.origin}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as any).checks.ca_key_token, 'ok');
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const logs = `${server.stdout()}${server.stderr()}`;
  assert.ok(!logs.includes(hsm.pin), 'the PIN is in no log line');

  const wrongPin = join(testTempDir('access-ca-pkcs11-pin-'), 'pin');
  writeFileSync(wrongPin, `${hsm.pin}0\n`, { mode: 0o600 });
  const refused = await startServer({ dataDir: server.dataDir, args: ['--pkcs11-module', hsm.module, '--pkcs11-token-label', hsm.label, '--pkcs11-pin-file', wrongPin], env });
  try {
    assert.match(refused.stderr(), /the PKCS#11 token ".*" cannot sign: the token refused the PIN \(CKR_PIN_INCORRECT\)/);
    const ready = await fetch(`${refused.origin}/readyz`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as any;
    assert.deepEqual(body.failed, ['ca_key_token']);
    assert.match(body.reasons.ca_key_token, /CKR_PIN_INCORRECT/);
  } finally {
    assert.equal(await refused.stop(), 0);
  }
  assert.match(refused.stdout(), /"event":"pkcs11.unavailable"/);
  assert.ok(!`${refused.stdout()}${refused.stderr()}`.includes(`${hsm.pin}0`), 'the wrong PIN is in no log line either');

  // Started with no token at all on a store whose CA key is in one: refused, saying which flags it needs.
  await assert.rejects(startServer({ dataDir: server.dataDir, env }), /exited with 2[\s\S]*the store holds 1 CA key kept in a PKCS#11 token: start serve with --pkcs11-module/);
});
