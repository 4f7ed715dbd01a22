import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { checkTrustedDir, readSecretFile, UnsafePathError, writeFileAtomic } from './file-safety.ts';
import { safeTempDir } from '../../test/helpers/temp-dir.ts';

const NOBODY = 65534;
const isRoot = process.geteuid?.() === 0;
const NEEDS_ROOT = 'needs root to chown to another user (CI runs as root)';

// Not under the system temp dir, which is itself sticky and world-writable (test/helpers/temp-dir.ts).
const base = safeTempDir('access-ca-file-safety-');
const removeBase = () => {
  if (base) rmSync(base, { recursive: true, force: true });
};
process.on('exit', removeBase);
after(removeBase);
const NO_BASE = base ? false : 'no directory with a safe chain of ancestors to test in (/run is not writable and neither is a safe home)';

let caseCount = 0;
/** A fresh 0755 directory of the test's own, owned by the running user. */
function caseDir(): string {
  const dir = join(base!, `case-${++caseCount}`);
  mkdirSync(dir, 0o755);
  chmodSync(dir, 0o755);
  return dir;
}

function dir(path: string, mode = 0o755, uid?: number): string {
  mkdirSync(path);
  chmodSync(path, mode);
  if (uid !== undefined) chownSync(path, uid, uid);
  return path;
}

function file(path: string, data: string | Buffer, mode = 0o600, uid?: number): string {
  writeFileSync(path, data);
  chmodSync(path, mode);
  if (uid !== undefined) chownSync(path, uid, uid);
  return path;
}

/** Every entry under `root` with its type, mode and owner, so a test can show that a refusal changed nothing. */
function snapshot(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).map((entry) => {
    const st = lstatSync(join(root, entry));
    return `${entry} ${st.mode.toString(8)} ${st.uid}`;
  }).sort();
}

function assertRefused(fn: () => void, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UnsafePathError, `expected an UnsafePathError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

const re = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

/** What the agent does in a round: check (making what is missing), then write; a refusal must come before any write. */
function syncInto(target: string): void {
  checkTrustedDir(target, { create: true });
  writeFileAtomic(target, 'ca.pub', 'ssh-ed25519 AAAA test\n', 0o644);
}

describe('checkTrustedDir refuses', { skip: NO_BASE }, () => {
  const cases: { name: string; root?: boolean; setup: (c: string) => { target: string; message: RegExp } }[] = [
    {
      name: 'a directory owned by another user', root: true,
      setup: (c) => {
        const d = dir(join(c, 'd'), 0o755, NOBODY);
        return { target: d, message: re(`${d} is owned by uid ${NOBODY}, not root: chown root:root ${d}`) };
      },
    },
    {
      name: 'a group-writable directory',
      setup: (c) => {
        const d = dir(join(c, 'd'), 0o775);
        return { target: d, message: re(`${d} is writable by group (mode 0775): chmod go-w ${d}, or choose a --dir under a root-owned path such as /etc/ssh/access-ca`) };
      },
    },
    {
      name: 'a world-writable directory',
      setup: (c) => {
        const d = dir(join(c, 'd'), 0o757);
        return { target: d, message: re(`${d} is writable by others (mode 0757): chmod go-w ${d}`) };
      },
    },
    {
      name: 'a directory under a sticky world-writable ancestor (a /tmp)',
      setup: (c) => {
        const tmp = dir(join(c, 'tmp'), 0o1777);
        return { target: dir(join(tmp, 'agent')), message: re(`${tmp} is writable by group and others (mode 1777): chmod go-w ${tmp}`) };
      },
    },
    {
      name: 'making a directory below a sticky world-writable ancestor',
      setup: (c) => {
        const tmp = dir(join(c, 'tmp'), 0o1777);
        return { target: join(tmp, 'new', 'agent'), message: re(`${tmp} is writable by group and others (mode 1777)`) };
      },
    },
    {
      name: 'a directory under a group-writable ancestor',
      setup: (c) => {
        const a = dir(join(c, 'a'), 0o775);
        return { target: dir(join(a, 'd')), message: re(`${a} is writable by group (mode 0775): chmod go-w ${a}`) };
      },
    },
    {
      name: 'a directory under an ancestor owned by another user', root: true,
      setup: (c) => {
        const a = dir(join(c, 'a'), 0o755, NOBODY);
        return { target: dir(join(a, 'd')), message: re(`${a} is owned by uid ${NOBODY}, not root: chown root:root ${a}`) };
      },
    },
    {
      name: 'a directory that is a symbolic link',
      setup: (c) => {
        const real = dir(join(c, 'real'));
        symlinkSync(real, join(c, 'link'));
        return { target: join(c, 'link'), message: re(`${join(c, 'link')} is a symbolic link: give the real path`) };
      },
    },
    {
      name: 'a directory under an ancestor that is a symbolic link',
      setup: (c) => {
        dir(join(c, 'real'));
        dir(join(c, 'real', 'd'));
        symlinkSync(join(c, 'real'), join(c, 'link'));
        return { target: join(c, 'link', 'd'), message: re(`${join(c, 'link')} is a symbolic link: give the real path`) };
      },
    },
    {
      name: 'a path with a .. component',
      setup: (c) => {
        dir(join(c, 'd'));
        return { target: `${c}/d/../d`, message: re(`${c}/d/../d has a . or .. component: give the real path`) };
      },
    },
    {
      name: 'a directory under a file',
      setup: (c) => {
        const f = file(join(c, 'f'), 'x', 0o644);
        return { target: join(f, 'd'), message: re(`${f} is not a directory`) };
      },
    },
  ];

  for (const { name, root, setup } of cases) {
    it(name, { skip: root && !isRoot ? NEEDS_ROOT : false }, () => {
      const c = caseDir();
      const { target, message } = setup(c);
      const before = snapshot(c);
      assertRefused(() => syncInto(target), message);
      assert.deepEqual(snapshot(c), before);
      assert.equal(existsSync(join(target, 'ca.pub')), false);
    });
  }

  it('a relative path, before making anything', () => {
    const relative = `access-ca-file-safety-${process.pid}/ssh`;
    assertRefused(() => syncInto(relative), re(`"${relative}" is not an absolute path: give the full path from /`));
    assert.equal(existsSync(relative.split('/')[0]!), false);
  });

  it('a missing directory when not asked to make it', () => {
    const c = caseDir();
    assertRefused(() => checkTrustedDir(join(c, 'missing')), re(`${join(c, 'missing')} does not exist: mkdir -m 0755 ${join(c, 'missing')}`));
    assert.deepEqual(snapshot(c), []);
  });

  it('anything under the system /tmp, which is sticky and world-writable', { skip: (lstatSync('/tmp').mode & 0o1777) === 0o1777 ? false : '/tmp is not 1777 here' }, () => {
    assertRefused(() => checkTrustedDir('/tmp/access-ca'), /refusing directory \/tmp\/access-ca: \/tmp is writable by group and others \(mode 1777\)/);
  });
});

describe('readSecretFile refuses', { skip: NO_BASE }, () => {
  const big = Buffer.alloc(64 * 1024 + 1, 0x61);
  const cases: { name: string; root?: boolean; setup: (c: string) => { path: string; message: RegExp } }[] = [
    {
      name: 'a file owned by another user', root: true,
      setup: (c) => {
        const p = file(join(c, 'token'), 'secret', 0o600, NOBODY);
        return { path: p, message: re(`${p} is owned by uid ${NOBODY}, not root: chown root:root ${p}`) };
      },
    },
    ...[0o640, 0o604, 0o644].map((mode) => ({
      name: `mode ${mode.toString(8).padStart(4, '0')}`,
      setup: (c: string) => {
        const p = file(join(c, 'token'), 'secret', mode);
        return { path: p, message: re(`${p} is open to other users (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${p}`) };
      },
    })),
    {
      name: 'a symbolic link to a good file',
      setup: (c) => {
        file(join(c, 'real'), 'secret');
        symlinkSync(join(c, 'real'), join(c, 'token'));
        return { path: join(c, 'token'), message: re(`${join(c, 'token')} is a symbolic link: give the real path`) };
      },
    },
    {
      name: 'a directory',
      setup: (c) => {
        const p = dir(join(c, 'token'), 0o700);
        return { path: p, message: re(`${p} is not a regular file`) };
      },
    },
    {
      name: 'a file larger than 64 KiB',
      setup: (c) => {
        const p = file(join(c, 'token'), big);
        return { path: p, message: re(`${p} is larger than 65536 bytes, too large for a secret`) };
      },
    },
    {
      name: 'a good file in a world-writable directory',
      setup: (c) => {
        const pub = dir(join(c, 'pub'), 0o777);
        const p = file(join(pub, 'token'), 'secret');
        return { path: p, message: re(`refusing secret file ${p}: ${pub} is writable by group and others (mode 0777): chmod go-w ${pub}, or keep the file in a directory only root can write`) };
      },
    },
    {
      name: 'a relative path',
      setup: () => ({ path: 'token', message: re('"token" is not an absolute path') }),
    },
    {
      name: 'a missing file',
      setup: (c) => ({ path: join(c, 'token'), message: re(`${join(c, 'token')} does not exist`) }),
    },
  ];

  for (const { name, root, setup } of cases) {
    it(name, { skip: root && !isRoot ? NEEDS_ROOT : false }, () => {
      const c = caseDir();
      const out = dir(join(c, 'out'));
      const { path, message } = setup(c);
      const before = snapshot(c);
      assertRefused(() => writeFileAtomic(out, 'token.copy', readSecretFile(path), 0o600), message);
      assert.deepEqual(snapshot(c), before);
      assert.equal(existsSync(join(out, 'token.copy')), false);
    });
  }
});

describe('good paths', { skip: NO_BASE }, () => {
  let umask: number;
  before(() => {
    umask = process.umask(0o077); // writeFileAtomic and create must set their modes whatever the umask
  });
  after(() => process.umask(umask));

  it('a 0755 chain owned by the agent, with a 0600 secret, is read and written into', () => {
    const c = caseDir();
    const target = dir(join(dir(join(dir(join(c, 'etc')), 'ssh')), 'access-ca'));
    const token = file(join(target, 'token'), 'sekrit\n');
    checkTrustedDir(target);
    assert.equal(readSecretFile(token).toString(), 'sekrit\n');
    assert.equal(readSecretFile(token, { maxBytes: 7 }).toString(), 'sekrit\n');
    writeFileAtomic(target, 'ca.pub', 'one\n', 0o644);
    writeFileAtomic(target, 'ca.pub', Buffer.from('two\n'), 0o644);
    assert.equal(readFileSync(join(target, 'ca.pub'), 'utf8'), 'two\n');
    assert.equal(lstatSync(join(target, 'ca.pub')).mode & 0o7777, 0o644);
    assert.deepEqual(readdirSync(target).sort(), ['ca.pub', 'token']);
  });

  it('create makes each missing component 0755, owned by the running user', () => {
    const c = caseDir();
    const target = join(c, 'a', 'b', 'c');
    checkTrustedDir(target, { create: true });
    for (const path of [join(c, 'a'), join(c, 'a', 'b'), target]) {
      const st = lstatSync(path);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o7777, 0o755, path);
      assert.equal(st.uid, process.geteuid!());
    }
    checkTrustedDir(target); // and what it made passes without create
  });

  it('a non-root agent (uid 1000) trusts its own directory and secret under root-owned ancestors', { skip: isRoot ? false : NEEDS_ROOT }, () => {
    const c = caseDir();
    const d = dir(join(c, 'agent'), 0o700, 1000);
    const token = file(join(d, 'token'), 'sekrit', 0o600, 1000);
    checkTrustedDir(d, { uid: 1000 });
    assert.equal(readSecretFile(token, { uid: 1000 }).toString(), 'sekrit');
    assertRefused(() => checkTrustedDir(d), re(`${d} is owned by uid 1000, not root: chown root:root ${d}`));
  });

  it('writeFileAtomic leaves no temporary file when the rename fails', () => {
    const c = caseDir();
    dir(join(c, 'ca.pub'));
    assert.throws(() => writeFileAtomic(c, 'ca.pub', 'x', 0o644), { code: 'EISDIR' });
    assert.deepEqual(readdirSync(c), ['ca.pub']);
  });
});
