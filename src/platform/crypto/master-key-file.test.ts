import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadMasterKey, MasterKeyError } from './key-vault.ts';
import { testTempDir } from '../../../test/helpers/temp-dir.ts';

const root = testTempDir('access-ca-mkfile-');
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A master key file with exactly this mode (chmod after writing: the umask must not decide). */
function keyFile(mode: number, name = `k${n++}.key`): { path: string; key: Buffer } {
  const path = join(root, name);
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600 });
  chmodSync(path, mode);
  return { path, key };
}

const refused = (path: string, mode: string) =>
  (error: unknown) => {
    assert.ok(error instanceof MasterKeyError, String(error));
    assert.equal(
      error.message,
      `permissions ${mode} for master key file ${path} are too open: it must not be accessible by other users. Run: chmod 600 ${path}`,
    );
    return true;
  };

describe('master key file permissions', () => {
  // Any group or other bit is refused, as OpenSSH refuses private keys; owner-only modes are accepted.
  const modes: [number, 'refused' | 'accepted'][] = [
    [0o644, 'refused'], [0o640, 'refused'], [0o604, 'refused'], [0o660, 'refused'],
    [0o610, 'refused'], [0o601, 'refused'], [0o400 | 0o040, 'refused'], [0o777, 'refused'],
    [0o600, 'accepted'], [0o400, 'accepted'],
  ];
  for (const [mode, verdict] of modes) {
    const octal = `0${mode.toString(8)}`;
    it(`a key file given by path with mode ${octal} is ${verdict}, even for root`, () => {
      const { path, key } = keyFile(mode);
      for (const create of [false, true]) {
        if (verdict === 'refused') assert.throws(() => loadMasterKey(path, create), refused(path, octal));
        else assert.deepEqual(loadMasterKey(path, create), { key, created: false });
      }
      assert.equal(statSync(path).mode & 0o777, mode, 'the mode is the operator\'s to fix: never changed for them');
    });
  }

  it('names a path with spaces as one shell word in the chmod command', () => {
    const { path } = keyFile(0o644, 'my master.key');
    assert.throws(() => loadMasterKey(path, false), /Run: chmod 600 '.*\/my master\.key'$/);
  });

  it('a symlink to a 0600 file is accepted; a symlink to a 0644 file is refused, naming the link as given', () => {
    const good = keyFile(0o600);
    const link = join(root, 'good-link.key');
    symlinkSync(good.path, link);
    assert.deepEqual(loadMasterKey(link, false).key, good.key);
    const bad = keyFile(0o644);
    const badLink = join(root, 'bad-link.key');
    symlinkSync(bad.path, badLink);
    assert.throws(() => loadMasterKey(badLink, false), refused(badLink, '0644'));
  });

  it('a directory, a FIFO or a dangling link is not a master key file', () => {
    const dir = join(root, 'dir.key');
    mkdirSync(dir, { mode: 0o700 });
    assert.throws(() => loadMasterKey(dir, true), { name: 'MasterKeyError', message: `master key file ${dir} is not a regular file` });
    const fifo = join(root, 'fifo.key');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    assert.throws(() => loadMasterKey(fifo, false), { name: 'MasterKeyError', message: `master key file ${fifo} is not a regular file` });
    const dangling = join(root, 'dangling.key');
    symlinkSync(join(root, 'nowhere'), dangling);
    assert.throws(() => loadMasterKey(dangling, false), { name: 'MasterKeyError', message: `master key file ${dangling} does not exist` });
  });

  it('a new master key is made 0600, in a new directory made 0700', () => {
    const dir = join(root, 'new-data');
    const path = join(dir, 'master.key');
    const made = loadMasterKey(path, true);
    assert.equal(made.created, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(loadMasterKey(path, false), { key: made.key, created: false });
  });
});
