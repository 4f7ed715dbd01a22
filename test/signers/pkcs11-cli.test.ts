import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSoftHsmToken, softhsmUnavailable } from '../helpers/softhsm.ts';
import { runCliInProcess } from '../helpers/server-process.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

test('the ca verbs with a PKCS#11 token: create --key-storage pkcs11, rotate a sealed CA into the token, migrate-key --to pkcs11 and back, retire and delete destroy token keys', { skip: softhsmUnavailable() ?? false }, async (t) => {
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

  // migrate-key --to pkcs11: a rotation to a new key made in the token; the sealed key is untouched and signs on.
  const moving = await appOf('moving');
  await ca('create', moving, [], {});
  const rowsOf = (app: string) => {
    const db = new Database(join(dataDir, 'access-ca.db'), { readonly: true });
    try {
      return db.prepare('select k.id, k.state, k.key_storage, k.private_key_sealed, k.public_key, k.token_object_id from ssh_ca_keys k join ssh_cas c on c.id = k.ca_id where c.app_id = ? order by k.state')
        .all(app) as { id: string; state: string; key_storage: string; private_key_sealed: Buffer; public_key: string; token_object_id: string | null }[];
    } finally {
      db.close();
    }
  };
  const [sealedBefore] = rowsOf(moving);
  const migrated = await ca('migrate-key', moving, ['--to', 'pkcs11']);
  const [activeAfter, nextRow] = rowsOf(moving);
  assert.deepEqual(activeAfter, sealedBefore, 'the old key\'s row is exactly as it was, still active');
  assert.equal(activeAfter!.state, 'active');
  assert.equal(nextRow!.state, 'next');
  assert.equal(nextRow!.key_storage, 'pkcs11');
  assert.equal(nextRow!.private_key_sealed.length, 0);
  assert.equal(nextRow!.token_object_id, nextRow!.id);
  assert.notEqual(nextRow!.public_key, sealedBefore!.public_key, 'a new key, not the old one');
  const flags = `--account ${account} --app ${moving}`;
  assert.equal(migrated.stdout, [
    `next key ${nextRow!.id} made in the PKCS#11 token; key ${sealedBefore!.id} (sealed in the store) still signs, untouched. To finish the move:`,
    `  1. have servers trust the new key: sshd-sync picks it up at its next round, or put the output of access-ca ca trusted-keys ${flags} in their TrustedUserCAKeys`,
    `  2. access-ca ca activate ${flags}`,
    `  3. once the old key's certificates have expired: access-ca ca retire ${flags}`,
    'The new key:',
    `ecdsa-sha2-nistp256 ${nextRow!.public_key} open-ssh-ca@cloudflareaccess.org`,
    '',
  ].join('\n'));
  // Twice is refused by the rotation in progress; once moved, --to pkcs11 has nothing to move; --to is pkcs11 or sealed only.
  assert.match((await ca('migrate-key', moving, ['--to', 'pkcs11'], tokenEnv, 2)).stderr, /already has a next key; activate it before rotating again/);
  await ca('activate', moving, [], {});
  await ca('retire', moving, [], {});
  assert.match((await ca('migrate-key', moving, ['--to', 'pkcs11'], tokenEnv, 2)).stderr, new RegExp(`the CA's key ${nextRow!.id} already lives in the PKCS#11 token: nothing to move`));
  const wrong = await ca('migrate-key', moving, ['--to', 'hsm'], tokenEnv, 2);
  assert.match(wrong.stderr, /--to must be one of sealed, pkcs11 \(pkcs11 moves the CA's key into the token, sealed moves it back into the store\); got "hsm"/);
  // And back out: --to sealed, with the token, so that retire destroys the token key.
  const back = JSON.parse((await ca('migrate-key', moving, ['--to', 'sealed', '--json'])).stdout);
  assert.deepEqual([back.state, back.key_storage, back.previous_key_id, back.previous_key_storage], ['next', 'sealed', nextRow!.id, 'pkcs11']);
  assert.match(back.next_steps[2], /ca retire .*\(with the --pkcs11-\* flags or ACCESS_CA_PKCS11_\* variables, to destroy it in the token\)$/);
  await ca('activate', moving, [], {});
  await ca('retire', moving);
  assert.deepEqual(keys(moving).map((k) => [k.state, k.key_storage]), [['active', 'sealed']]);

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
