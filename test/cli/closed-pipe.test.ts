import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cleanEnv, CLI_COMMAND, ROOT } from '../helpers/server-process.ts';

// Issue 25: `access-ca --help | head -1` printed an EPIPE stack trace in about half the runs. A reader that
// stops early closes the pipe; the CLI then ends quietly, with the exit code it would have had.

const CLI = `${CLI_COMMAND} --help`;

/** Runs `access-ca --help | <reader>` under pipefail; the CLI's own status comes back through PIPESTATUS. */
function piped(reader: string) {
  const r = spawnSync('bash', ['-c', `set -o pipefail; ${CLI} | ${reader}; s=("\${PIPESTATUS[@]}"); echo "cli=\${s[0]}" >&2; exit "\${s[0]}"`], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function quiet(r: { stderr: string; status: number | null }, label: string): void {
  assert.match(r.stderr, /cli=0\s*$/, `${label}: the CLI's exit status, stderr ${JSON.stringify(r.stderr)}`);
  assert.equal(r.status, 0, label);
  assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at |Error/, `${label}: no stack trace`);
}

test('--help | head -1, several runs: the first line, then the CLI exits 0 with no stack trace', () => {
  for (let run = 1; run <= 3; run++) {
    const r = piped('head -1');
    assert.equal(r.stdout, 'Usage: access-ca [options] [command]\n', `run ${run}: head's one line`);
    quiet(r, `head -1, run ${run}`);
  }
});

test('--help | true (the reader is gone before the first write, so every run meets EPIPE): exit 0, no stack trace', () => {
  for (let run = 1; run <= 2; run++) quiet(piped('true'), `true, run ${run}`);
});
