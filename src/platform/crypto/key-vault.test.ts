import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createKeyVault, loadMasterKey, MasterKeyError } from './key-vault.ts';
import { testTempDir } from '../../../test/helpers/temp-dir.ts';

describe('key vault', () => {
  const vault = createKeyVault(randomBytes(32));

  it('seals and opens with the same associated data', () => {
    const secret = randomBytes(138);
    const sealed = vault.seal(secret, 'ca/1');
    assert.equal(sealed.length, 1 + 12 + 16 + secret.length);
    assert.equal(sealed.indexOf(secret), -1);
    assert.deepEqual(vault.open(sealed, 'ca/1'), secret);
    assert.notDeepEqual(vault.seal(secret, 'ca/1'), sealed, 'a fresh IV each time');
  });

  it('refuses another row\'s AAD, another master key, and tampering', () => {
    const sealed = vault.seal(Buffer.from('k'), 'ca/1');
    assert.throws(() => vault.open(sealed, 'ca/2'), MasterKeyError);
    assert.throws(() => createKeyVault(randomBytes(32)).open(sealed, 'ca/1'), MasterKeyError);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => vault.open(flipped, 'ca/1'), MasterKeyError);
    assert.throws(() => vault.open(Buffer.of(2, ...sealed.subarray(1)), 'ca/1'), /unknown format/);
    assert.throws(() => createKeyVault(randomBytes(16)), /32 bytes/);
  });

  it('creates the master key file 0600 once, then reads it back; hex is accepted too', () => {
    const dir = testTempDir('access-ca-vault-');
    const path = join(dir, 'sub', 'master.key');
    const made = loadMasterKey(path, true);
    assert.equal(made.created, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = loadMasterKey(path, true);
    assert.equal(again.created, false);
    assert.deepEqual(again.key, made.key);
    assert.equal(readFileSync(path, 'utf8').trim(), made.key.toString('base64'));
    const hex = join(dir, 'hex.key');
    writeFileSync(hex, made.key.toString('hex'), { mode: 0o600 }); // a key open to others is refused
    assert.deepEqual(loadMasterKey(hex, false).key, made.key);
    writeFileSync(hex, 'short');
    assert.throws(() => loadMasterKey(hex, false), /32 bytes/);
    assert.throws(() => loadMasterKey(join(dir, 'absent.key'), false), /does not exist/);
    rmSync(dir, { recursive: true, force: true });
  });
});
