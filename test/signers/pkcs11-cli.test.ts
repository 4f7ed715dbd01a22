import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { runCliInProcess } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

test('the ca verbs with a PKCS#11 token: create --key-storage pkcs11, rotate a sealed CA into the token, retire and delete destroy token keys', { skip: softhsmUnavailable() ?? false }, async (t) => {
  const hsm = createSoftHsmToken();
  process.env['SOFTHSM2_CONF'] = hsm.conf;
  t.after(() => hsm.remove());
  const dataDir = testTempDir('access-ca-pkcs11-cli-');
  const tokenEnv = { ACCESS_CA_PKCS11_MODULE: hsm.module, ACCESS_CA_PKCS11_TOKEN_LABEL: hsm.label, ACCESS_CA_PKCS11_PIN_FILE: hsm.pinFile };
  const cli = async (args: string[], env: Record<string, string> = {}, code = 0) => {
    const r = await runCliInProcess(['--data-dir', dataDir, ...args], env);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(hsm.pin), 'the PIN is never printed');
    return r;
  };
  const keys = (app: string) => {
    const db = new Database(join(dataDir, 'access-ca.db'), { readonly: true });
    try {
      return db.prepare('select k.state, k.key_storage, length(k.private_key_sealed) as sealed, k.token_object_id from ssh_ca_keys k join ssh_cas c on c.id = k.ca_id where c.app_id = ? order by k.state')
        .all(app) as { state: string; key_storage: string; sealed: number; token_object_id: string | null }[];
    } finally {
      db.close();
    }
  };
  const account = JSON.parse((await cli(['account', 'create', '--name', 'hsm', '--json'])).stdout).id as string;
  const appOf = async (name: string) => JSON.parse((await cli(['app', 'create', '--account', account, '--name', name, '--domain', `${name}.example.com`, '--json'])).stdout).id as string;
  const held = await appOf('held');
  const sealed = await appOf('sealed');
  const ca = (verb: string, app: string, extra: string[] = [], env: Record<string, string> = tokenEnv, code = 0) => cli(['ca', verb, '--account', account, '--app', app, ...extra], env, code);

  const made = await ca('create', held, ['--key-storage', 'pkcs11']);
  assert.match(made.stdout, /its key in the PKCS#11 token; its public key:\necdsa-sha2-nistp256 AAAA/);
  const [first] = keys(held);
  assert.deepEqual({ ...first, token_object_id: typeof first!.token_object_id }, { state: 'active', key_storage: 'pkcs11', sealed: 0, token_object_id: 'string' });

  // A rotation keeps the key where the active one lives; retire destroys the old one in the token.
  await ca('rotate', held);
  assert.deepEqual(keys(held).map((k) => [k.state, k.key_storage, k.sealed]), [['active', 'pkcs11', 0], ['next', 'pkcs11', 0]]);
  await ca('activate', held, [], {});
  await ca('retire', held);
  assert.deepEqual(keys(held).map((k) => [k.state, k.key_storage]), [['active', 'pkcs11']]);

  // A sealed CA moves into the token by a rotation.
  await ca('create', sealed, [], {});
  const rotated = await ca('rotate', sealed, ['--key-storage', 'pkcs11']);
  assert.match(rotated.stdout, /added in the PKCS#11 token/);
  await ca('activate', sealed, [], {});
  await ca('retire', sealed);
  assert.deepEqual(keys(sealed).map((k) => [k.state, k.key_storage, k.sealed]), [['active', 'pkcs11', 0]]);

  // Without a token: refused, saying what is missing; an unknown storage is refused before anything.
  const other = await appOf('other');
  const refused = await ca('create', other, ['--key-storage', 'pkcs11'], {}, 2);
  assert.match(refused.stderr, /no PKCS#11 token is configured here \(--pkcs11-module/);
  const unknown = await ca('create', other, ['--key-storage', 'vault'], {}, 2);
  assert.match(unknown.stderr, /--key-storage must be one of sealed, pkcs11/);
  assert.deepEqual(keys(other), []);

  // An export holds the token keys' public halves and object ids, and nothing private for them.
  const file = join(dataDir, 'export.json');
  await cli(['export', '--out', file]);
  const exported = JSON.parse(readFileSync(file, 'utf8')) as { tables: Record<string, Record<string, unknown>[]> };
  const tokenRows = exported.tables['ssh_ca_keys']!.filter((r) => r['key_storage'] === 'pkcs11');
  assert.equal(tokenRows.length, 2);
  for (const row of tokenRows) {
    assert.deepEqual(row['private_key_sealed'], { $base64: '' });
    assert.match(String(row['token_object_id']), /^[0-9a-f]{32}$/);
  }

  await ca('delete', held);
  await ca('delete', sealed);
  assert.deepEqual([...keys(held), ...keys(sealed)], []);
});
