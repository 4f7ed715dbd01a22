import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCliInProcess, runCliProcess } from '../helpers/server-process.ts';
import { openStoreRuntime } from '../../src/platform/store-runtime.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const root = testTempDir('access-ca-perms-');
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A path of its own under this file's temporary root. */
const fresh = (name = 'p') => join(root, `${name}${n++}`);
const modeOf = (path: string) => statSync(path).mode & 0o7777;
const asRoot = process.geteuid?.() === 0;
// Giving a file to another user takes root; CI and the test containers run as root.
const needsRoot = asRoot ? false : 'only root can give a file to another user';

/** A data dir made beforehand with this exact mode (chmod: the umask must not decide). */
function dataDirWithMode(mode: number, files: string[] = []): string {
  const dir = fresh('data');
  mkdirSync(dir);
  for (const f of files) writeFileSync(join(dir, f), 'x');
  chmodSync(dir, mode);
  return dir;
}

/** Opens and closes the store as a verb does, returning the notices it gave. */
async function openAndClose(dataDir: string, extra: { databaseUrl?: string; masterKeyFile?: string } = {}): Promise<string[]> {
  const notices: string[] = [];
  const runtime = await openStoreRuntime(
    { dataDir, databaseUrl: extra.databaseUrl, masterKeyFile: extra.masterKeyFile },
    { notice: (text) => notices.push(text) },
  );
  await runtime.database.close();
  return notices;
}

describe('file permissions: the master key file', () => {
  const cases: [number, number][] = [[0o644, 2], [0o640, 2], [0o604, 2], [0o660, 2], [0o600, 0], [0o400, 0]];
  for (const [mode, code] of cases) {
    const octal = `0${mode.toString(8)}`;
    it(`ACCESS_CA_MASTER_KEY_FILE with mode ${octal}: ${code === 0 ? 'accepted' : 'refused with exit 2 and the chmod to run'}`, async () => {
      const keyFile = join(fresh('keys'), 'master.key');
      mkdirSync(join(keyFile, '..'), { mode: 0o700 });
      writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
      chmodSync(keyFile, mode);
      const dataDir = fresh('data');
      const r = await runCliInProcess(['--data-dir', dataDir, 'account', 'list', '--json'], { ACCESS_CA_MASTER_KEY_FILE: keyFile });
      assert.equal(r.code, code, r.stderr);
      if (code === 0) {
        assert.deepEqual(JSON.parse(r.stdout), { accounts: [] });
        assert.equal(r.stderr, '');
      } else {
        const message = `permissions ${octal} for master key file ${keyFile} are too open: it must not be accessible by other users. Run: chmod 600 ${keyFile}`;
        assert.equal(r.stderr, `access-ca: ${message}\n`);
        assert.deepEqual(JSON.parse(r.stdout), { error: message });
        assert.equal(modeOf(keyFile), mode, 'the key file is left for the operator to fix');
        assert.throws(() => statSync(join(dataDir, 'access-ca.db')), { code: 'ENOENT' }, 'refused before the store is made');
      }
    });
  }

  it('a master.key in the data dir that is open to others is refused too, not tightened', async () => {
    const dataDir = fresh('data');
    assert.equal((await runCliInProcess(['--data-dir', dataDir, 'migrate'])).code, 0);
    chmodSync(join(dataDir, 'master.key'), 0o644);
    const r = await runCliInProcess(['--data-dir', dataDir, 'account', 'list']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^access-ca: permissions 0644 for master key file .*\/master\.key are too open: .* Run: chmod 600 .*\/master\.key\n$/);
    assert.equal(modeOf(join(dataDir, 'master.key')), 0o644);
  });
});

describe('file permissions: the data directory and the SQLite store', () => {
  it('a new data dir is made 0700, its master key 0600 and its store 0600', async () => {
    const dataDir = join(fresh('new'), 'deeper', 'data');
    assert.deepEqual(await openAndClose(dataDir), []);
    assert.equal(modeOf(dataDir), 0o700);
    assert.equal(modeOf(join(dataDir, 'master.key')), 0o600);
    assert.equal(modeOf(join(dataDir, 'access-ca.db')), 0o600);
  });

  it('an empty data dir made 0755 beforehand is tightened to 0700, and the CLI says so on stderr', async () => {
    const dataDir = dataDirWithMode(0o755);
    const r = await runCliProcess(['--data-dir', dataDir, 'migrate']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(modeOf(dataDir), 0o700);
    assert.equal(r.stderr, `access-ca: data directory ${dataDir} was mode 0755, open to other users; changed it to 0700\n`);
    assert.equal(r.stdout, `store is up to date: ${join(dataDir, 'access-ca.db')}\n`, 'the result is on stdout');
  });

  for (const mode of [0o755, 0o750, 0o705, 0o770, 0o777]) {
    it(`a data dir holding only our store, made 0${mode.toString(8)} later, is tightened to 0700 on the next open`, async () => {
      const dataDir = fresh('data');
      assert.deepEqual(await openAndClose(dataDir), []);
      chmodSync(dataDir, mode);
      assert.deepEqual(await openAndClose(dataDir), [
        `access-ca: data directory ${dataDir} was mode 0${mode.toString(8)}, open to other users; changed it to 0700`,
      ]);
      assert.equal(modeOf(dataDir), 0o700);
      assert.deepEqual(await openAndClose(dataDir), [], 'said once: nothing left to change');
    });
  }

  it('a data dir open to others that also holds files access-ca did not make is refused, and left as it is', async () => {
    const dataDir = dataDirWithMode(0o755, ['notes.txt']);
    const r = await runCliInProcess(['--data-dir', dataDir, 'account', 'list', '--json']);
    assert.equal(r.code, 2);
    const message = `data directory ${dataDir} is mode 0755, open to other users, and access-ca leaves it as it is because it holds files access-ca did not make (notes.txt). ` +
      `It holds the master key and the store: run chmod 700 ${dataDir}, or give access-ca a directory of its own (--data-dir)`;
    assert.equal(r.stderr, `access-ca: ${message}\n`);
    assert.deepEqual(JSON.parse(r.stdout), { error: message });
    assert.equal(modeOf(dataDir), 0o755);
    assert.throws(() => statSync(join(dataDir, 'master.key')), { code: 'ENOENT' }, 'refused before a key is made');
  });

  it('a shared sticky data dir (like /tmp) is refused, never tightened', async () => {
    const dataDir = dataDirWithMode(0o1777);
    await assert.rejects(openAndClose(dataDir), { name: 'DatabaseOpenError', message: /is mode 01777, open to other users, .* because it is a shared \(sticky\) directory\. .* run chmod 700 / });
    assert.equal(modeOf(dataDir), 0o1777);
  });

  it('another user\'s data dir open to others is refused with the chmod to run', { skip: needsRoot }, async () => {
    const dataDir = dataDirWithMode(0o755);
    chownSync(dataDir, 12345, 12345);
    await assert.rejects(openAndClose(dataDir), { name: 'DatabaseOpenError', message: /is mode 0755, open to other users, .* because it belongs to another user\. .* run chmod 700 / });
    assert.equal(modeOf(dataDir), 0o755);
  });

  it('a data dir access-ca does not use (key given by file, store elsewhere) is not looked at', async () => {
    const dataDir = dataDirWithMode(0o755, ['notes.txt']);
    const keyFile = join(fresh('keys'), 'master.key');
    mkdirSync(join(keyFile, '..'), { mode: 0o700 });
    writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    assert.deepEqual(await openAndClose(dataDir, { masterKeyFile: keyFile, databaseUrl: join(fresh('db'), 'store.db') }), []);
    assert.equal(modeOf(dataDir), 0o755);
  });

  it('a SQLite store and its WAL open to others are tightened to 0600 when ours, saying so', async () => {
    const dataDir = fresh('data');
    assert.deepEqual(await openAndClose(dataDir), []);
    const db = join(dataDir, 'access-ca.db');
    writeFileSync(`${db}-wal`, '', { flag: 'a' }); // as a crashed process would leave it
    chmodSync(db, 0o644);
    chmodSync(`${db}-wal`, 0o640);
    assert.deepEqual(await openAndClose(dataDir), [
      `access-ca: store file ${db} was mode 0644, open to other users; changed it to 0600`,
      `access-ca: store file ${db}-wal was mode 0640, open to other users; changed it to 0600`,
    ]);
    assert.equal(modeOf(db), 0o600);
  });

  it('a SQLite store given by --database-url, in a directory of the operator\'s, is checked the same way', async () => {
    const dir = dataDirWithMode(0o755, ['other-things']);
    const db = join(dir, 'custom.db');
    writeFileSync(db, '');
    chmodSync(db, 0o666);
    const notices = await openAndClose(fresh('data'), { databaseUrl: db });
    assert.deepEqual(notices, [`access-ca: store file ${db} was mode 0666, open to other users; changed it to 0600`]);
    assert.equal(modeOf(db), 0o600);
    assert.equal(modeOf(dir), 0o755, 'the operator\'s directory is theirs');
  });

  it('another user\'s SQLite store open to others is refused with the chmod to run', { skip: needsRoot }, async () => {
    const dataDir = fresh('data');
    assert.deepEqual(await openAndClose(dataDir), []);
    const db = join(dataDir, 'access-ca.db');
    chmodSync(db, 0o644);
    chownSync(db, 12345, 12345);
    const r = await runCliInProcess(['--data-dir', dataDir, 'account', 'list']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `access-ca: permissions 0644 for store file ${db} are too open: it holds sealed keys and token hashes and belongs to another user. Run: chmod 600 ${db}\n`);
    assert.equal(modeOf(db), 0o644);
  });
});
