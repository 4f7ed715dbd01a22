// `npm test`'s first step: type-checks everything (as `npm run typecheck` does) and compiles src/, test/,
// scripts/ and bench/ into .build/, where the suite runs. Loading the server through tsx's module hooks
// costs about three times the CPU of loading it compiled, in each of the suite's ~140 files and in every
// server and CLI process they start; compiled, the suite fits its time on a 2-core machine.
// .build/ is rebuilt whole each time, so a deleted test never runs from an old copy.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, '.build');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = (project) => execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });

rmSync(out, { recursive: true, force: true });
try {
  run('tsconfig.test.json');
  run('console/tsconfig.json');
} catch {
  rmSync(out, { recursive: true, force: true });
  process.exit(1);
}
// Compiled modules find package.json (version, "type": "module") and the built console where they look
// for them from dist/: one level up.
mkdirSync(out, { recursive: true });
symlinkSync('../package.json', join(out, 'package.json'));
symlinkSync('../dist', join(out, 'dist'));
