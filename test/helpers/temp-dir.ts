import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { checkTrustedDir } from '../../src/host-agent/file-safety.ts';
import { join } from 'node:path';

const made: string[] = [];
let hooked = false;

/**
 * A fresh directory under the system temp dir, removed when the test process exits, however the test
 * ended: `npm test` leaves no temporary files behind even when a test fails before its own clean-up.
 */
export function testTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/**
 * A fresh directory whose every ancestor the host agent trusts (host-agent/file-safety.ts): not under the
 * system temp dir, which is sticky and world-writable. /run is a root-owned 0755 tmpfs; a non-root run
 * uses its own /run/user/<uid> or home. Null when there is none; removed at exit like testTempDir's.
 */
export function safeTempDir(prefix: string): string | null {
  const uid = process.geteuid?.() ?? -1;
  for (const parent of uid === 0 ? ['/run'] : [`/run/user/${uid}`, homedir()]) {
    let dir: string;
    try {
      dir = mkdtempSync(join(parent, prefix));
    } catch {
      continue;
    }
    chmodSync(dir, 0o755);
    made.push(dir);
    if (!hooked) {
      hooked = true;
      process.on('exit', () => {
        for (const d of made) rmSync(d, { recursive: true, force: true });
      });
    }
    try {
      checkTrustedDir(dir);
      return dir;
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return null;
}
