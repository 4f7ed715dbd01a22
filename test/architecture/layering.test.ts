import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { ROOT } from '../helpers/server-process.ts';

/**
 * The house is layered: a folder of src/ imports only from its own layer or those below it, so there is
 * no cycle between capabilities and a lower one never learns of a higher one. Lowest first; folders on
 * one line are one layer and must not import each other.
 */
const LAYERS: string[][] = [
  ['platform', 'openssh'],
  ['signers'],
  ['observability'],
  ['identity'],
  ['audit'],
  ['access-apps'],
  ['access-policies', 'identity-providers'],
  ['access-cas'],
  ['ssh-certs'],
  ['infrastructure'],
  ['host-agent', 'console', 'openapi'],
  ['app-config.ts'],
  ['app.ts'],
  ['cli'],
  ['main.ts'],
];

const SRC = join(ROOT, 'src');
const layerOf = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The top folder of src/ a file is in (or the file's own name for src/app.ts and src/main.ts). */
const unitOf = (file: string) => relative(SRC, file).split(sep)[0]!;

test('every src/ import stays in its own folder or goes down to a lower layer', () => {
  const wrong: string[] = [];
  const files = sources(SRC);
  assert.ok(files.length > 100, `read ${files.length} source files`);
  for (const file of files) {
    const from = unitOf(file);
    const level = layerOf.get(from);
    assert.notEqual(level, undefined, `src/${from} is in no layer: add it to LAYERS`);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = normalize(join(dirname(file), spec!));
      if (!target.startsWith(SRC + sep)) continue;
      const to = unitOf(target);
      if (to === from) continue;
      const toLevel = layerOf.get(to);
      if (toLevel === undefined || toLevel >= level!) wrong.push(`${relative(ROOT, file)} imports ${spec} (${from} → ${to})`);
    }
  }
  assert.deepEqual(wrong, [], 'imports that go up or sideways');
});

test('openssh/ imports nothing of ours but itself', () => {
  for (const file of sources(join(SRC, 'openssh'))) {
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      assert.equal(unitOf(normalize(join(dirname(file), spec!))), 'openssh', `${relative(ROOT, file)} imports ${spec}`);
    }
  }
});

test('app.ts is a list of capabilities in dependency order: under about 80 lines, naming no store or service factory', () => {
  const text = readFileSync(join(SRC, 'app.ts'), 'utf8');
  assert.ok(text.split('\n').length <= 85, `src/app.ts has ${text.split('\n').length} lines`);
  assert.deepEqual(text.match(/\bcreate\w*(Store|Service)\b/g) ?? [], [], 'each capability builds its own stores and services');
});
