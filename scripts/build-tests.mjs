// `npm test`'s first step: type-checks everything (as `npm run typecheck` does) and compiles src/, test/,
// scripts/ and bench/ into .build/, where the suite runs. Loading the server through tsx's module hooks
// costs about three times the CPU of loading it compiled, in each of the suite's ~140 files and in every
// server and CLI process they start; compiled, the suite fits its time on a 2-core machine.
// .build/ is rebuilt whole each time, so a deleted test never runs from an old copy.
//
// --transpile-only (`npm run test:quick`): the same files, each one transpiled on its own with
// TypeScript's transpileModule (no type check, ~3 s instead of ~35 s). The output is the same JavaScript:
// the project compiles with isolatedModules and verbatimModuleSyntax, so no file's output depends on
// another's types.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
// test:quick builds into a tree of its own: a quick run must not replace the files a running `npm test` loads.
const out = join(root, process.argv.includes('--transpile-only') ? '.build-quick' : '.build');
const require = createRequire(import.meta.url);

function typecheckAndCompile() {
  const tsc = require.resolve('typescript/bin/tsc');
  const run = (project) => execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  run('tsconfig.test.json');
  run('console/tsconfig.json');
}

function transpileOnly() {
  const ts = require('typescript');
  const fail = (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')); };
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.test.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: fail });
  if (!config) throw new Error('tsconfig.test.json could not be read');
  // NodeNext would pick CommonJS for a lone file (transpileModule cannot read package.json's "type"):
  // ESNext is what NodeNext emits for this "type": "module" package.
  const compilerOptions = { ...config.options, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler };
  for (const file of config.fileNames) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file, reportDiagnostics: true });
    if (diagnostics?.length) {
      const { line } = diagnostics[0].file?.getLineAndCharacterOfPosition(diagnostics[0].start ?? 0) ?? { line: 0 };
      throw new Error(`${relative(root, file)}:${line + 1}: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n')}`);
    }
    const dest = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, outputText);
  }
}

rmSync(out, { recursive: true, force: true });
try {
  if (process.argv.includes('--transpile-only')) transpileOnly();
  else typecheckAndCompile();
} catch (err) {
  rmSync(out, { recursive: true, force: true });
  if (err instanceof Error && !('status' in err)) process.stderr.write(`build-tests: ${err.message}\n`);
  process.exit(1);
}
// Compiled modules find package.json (version, "type": "module") and the built console where they look
// for them from dist/: one level up.
mkdirSync(out, { recursive: true });
symlinkSync('../package.json', join(out, 'package.json'));
symlinkSync('../dist', join(out, 'dist'));
