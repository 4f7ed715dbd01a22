import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeKrl } from '../../src/openssh/krl.ts';
import { checkKrl } from '../../src/host-agent/answer-checks.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

describe('sshd-sync: what it takes as a KRL', () => {
  it('takes a KRL ssh-keygen wrote, and the encoder\'s', { skip: spawnSync('ssh-keygen', ['-?']).error ? 'ssh-keygen is not installed' : false }, () => {
    const dir = testTempDir('access-ca-sync-krl-');
    spawnSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '256', '-N', '', '-f', join(dir, 'ca')]);
    writeFileSync(join(dir, 'spec'), 'serial: 1-5\nserial: 99\n');
    const made = spawnSync('ssh-keygen', ['-k', '-f', join(dir, 'krl'), '-s', join(dir, 'ca.pub'), '-z', '42', join(dir, 'spec')], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    assert.equal(checkKrl(readFileSync(join(dir, 'krl'))).version, 42n);
    const ours = encodeKrl({ version: 7n, generatedDate: 0n, comment: '', certificates: [{ caKeyBlob: null, serials: [3n], keyIds: [] }], sha256Keys: [] });
    assert.equal(checkKrl(ours).version, 7n);
  });
});
