// `npm run test:quick`: the edit-run loop's suite, the unit and in-process HTTP tests, with no sshd, no
// PostgreSQL, no browser and no server processes. Files that need those are left out; parts of other
// files that need PostgreSQL, sshd or SoftHSM2 skip themselves, saying so (ACCESS_CA_TEST_QUICK).
// It runs compiled, as `npm test` does (in .build-quick/, apart from npm test's .build/), but transpiled file by file without the type check (seconds, not
// half a minute): run `npm run typecheck` for that. `npm test` is still the whole suite, and the README's command.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
/** Helpers that start processes, sshd, browsers or PostgreSQL clusters: a file using one is not quick. */
const SLOW = /from '(\.\.\/)+helpers\/(sshd|server-process|deployment|browser|fleet-host|private-postgres|fault-load)\.ts'/;
const SLOW_FOLDERS = ['test/e2e/', 'test/multi-node/', 'test/faults/', 'test/console/', 'test/contract/'];

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith('.test.ts') ? [relative(ROOT, path)] : [];
  });
}

const files = ['src', 'test'].flatMap((d) => testFiles(join(ROOT, d))).sort()
  .filter((f) => !SLOW_FOLDERS.some((folder) => f.startsWith(folder)) && !SLOW.test(readFileSync(join(ROOT, f), 'utf8')));
try {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-tests.mjs'), '--transpile-only'], { cwd: ROOT, stdio: 'inherit' });
} catch {
  process.exit(1);
}
process.stderr.write(`test:quick: ${files.length} files (npm test runs them all)\n`);
const compiled = files.map((f) => join('.build-quick', f.replace(/\.ts$/, '.js')));
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...compiled], {
  cwd: ROOT, stdio: 'inherit', env: { ...process.env, ACCESS_CA_TEST_QUICK: '1' },
});
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
