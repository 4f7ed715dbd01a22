import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cleanEnv, MAIN, ROOT } from '../helpers/server-process.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { runCliInProcess } from '../helpers/server-process.ts';

/**
 * The README's set-up, first-call and end-to-end commands, run in order as a newcomer would paste them,
 * on a fresh directory: every fenced block after a `<!-- readme-test -->` comment runs in bash (`set -euo
 * pipefail`, variables carried from block to block), `<!-- readme-test: serve -->` is the server started
 * in its own "terminal", and `<!-- readme-test: NAME.mjs -->` is a file saved and run with node. A test
 * identity provider stands in for the real one: its JWKS URL replaces https://login.example.com/keys and
 * it signs the person's token. When the README and the product disagree, a block fails here.
 */

interface Block {
  marker: string;
  lang: string;
  text: string;
  line: number;
}

/** The marked fenced blocks of a Markdown text, in order; indentation (list items) is removed. */
export function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const mark = /^\s*<!-- readme-test(?::\s*(\S+))?\s*-->\s*$/.exec(lines[i]!);
    if (!mark) continue;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === '') j++;
    const open = /^(\s*)```(\w+)\s*$/.exec(lines[j] ?? '');
    assert.ok(open, `README line ${i + 1}: a readme-test comment must be followed by a fenced block`);
    const indent = open[1]!.length;
    const body: string[] = [];
    for (j++; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    blocks.push({ marker: mark[1] ?? 'sh', lang: open[2]!, text: body.join('\n'), line: i + 1 });
  }
  return blocks;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

describe('README', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  });

  it('its set-up, first-call and end-to-end commands work, in order, on a fresh directory', async (t) => {
    for (const tool of ['bash', 'curl', 'ssh-keygen']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return t.skip(`${tool} is not installed`);
    }
    const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    assert.ok(blocks.length >= 6, `the README marks its commands (found ${blocks.length} blocks)`);

    const tmp = testTempDir('access-ca-readme-');
    const work = join(tmp, 'work');
    const home = join(tmp, 'home');
    const bin = join(tmp, 'bin');
    const etcSsh = join(tmp, 'etc', 'ssh');
    for (const dir of [work, home, bin, etcSsh]) mkdirSync(dir, { recursive: true });
    // `npx access-ca` is this checkout's CLI, from source; nothing else is fetched.
    const tsx = import.meta.resolve('tsx');
    writeFileSync(join(bin, 'npx'), `#!/bin/sh\nif [ "$1" = access-ca ]; then shift; exec "${process.execPath}" --import "${tsx}" "${MAIN}" "$@"; fi\necho "npx $1: not part of this test" >&2\nexit 127\n`);
    chmodSync(join(bin, 'npx'), 0o755);

    const idp = await makeTestIdp('https://login.example.com');
    t.after(() => idp.close());
    const jwksUrl = await idp.serve();
    const port = await freePort();
    const env = cleanEnv({
      HOME: home, PATH: `${bin}:${process.env['PATH'] ?? ''}`, ACCESS_CA_LISTEN: `127.0.0.1:${port}`,
      ACCESS_CA_ALLOW_PRIVATE_IDP: '1', ACCESS_CA_LOG_LEVEL: 'warn',
    });
    const substitute = (text: string) => text
      .replaceAll('https://login.example.com/keys', jwksUrl)
      .replaceAll('127.0.0.1:8787', `127.0.0.1:${port}`)
      .replaceAll('/etc/ssh/', `${etcSsh}/`);
    const state = join(tmp, 'state.sh');
    const exported = (name: string) => new RegExp(`^declare -x ${name}="([^"]*)"$`, 'm').exec(existsSync(state) ? readFileSync(state, 'utf8') : '')?.[1];
    // Asynchronous: the test identity provider answers from this process while a block runs.
    const bash = (script: string) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-c', `set -euo pipefail\n[ -f ${state} ] && . ${state}\n${script}\nexport -p > ${state}\n`], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('exit', (status) => resolve({ status, stdout, stderr }));
    });
    const outputs: string[] = [];

    for (const block of blocks) {
      const where = `README line ${block.line} (${block.marker})`;
      if (block.marker === 'serve') {
        assert.equal(block.text.trim(), 'npx access-ca serve', `${where}: the serve block is the one command`);
        const child = spawn('bash', ['-c', `exec ${block.text.trim()}`], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        let err = '';
        await new Promise<void>((resolve, reject) => {
          child.stderr!.on('data', (d) => {
            err += d;
            if (err.includes('listening on')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`${where}: the server exited with ${code}:\n${err}`)));
        });
        assert.doesNotMatch(err, STACK);
        continue;
      }
      if (block.text.includes('id-token.jwt')) {
        // The person's token, as their identity provider would sign it: aud holds the app's aud tag.
        const account = exported('ACCOUNT_ID');
        const app = exported('APP_ID');
        assert.ok(account && app, `${where}: ACCOUNT_ID and APP_ID are exported by the blocks before`);
        const got = await runCliInProcess(['--data-dir', join(work, '.access-ca'), 'app', 'get', '--account', account, '--app', app, '--json']);
        assert.equal(got.code, 0, got.stderr);
        writeFileSync(join(work, 'id-token.jwt'), await idp.sign({ email: 'jdoe@example.com', sub: 'jdoe', aud: [JSON.parse(got.stdout).aud] }));
      }
      let r;
      if (block.marker.endsWith('.mjs')) {
        assert.equal(block.lang, 'js', where);
        const cloudflare = import.meta.resolve('cloudflare');
        writeFileSync(join(work, block.marker), substitute(block.text).replace(/from 'cloudflare'/, `from '${cloudflare}'`));
        r = await bash(`node ${block.marker}`);
      } else {
        assert.equal(block.lang, 'sh', where);
        r = await bash(substitute(block.text));
      }
      assert.equal(r.status, 0, `${where} failed:\n${block.text}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, STACK, `${where}: no stack trace`);
      outputs.push(r.stdout);
    }

    const all = outputs.join('\n');
    assert.match(exported('ACCOUNT_ID') ?? '', /^[0-9a-f]{32}$/, 'account list --quiet gave the first start\'s account');
    assert.match(exported('CLOUDFLARE_API_TOKEN') ?? '', /^\S{20,}$/, 'token create --quiet gave the bare token');
    assert.match(all, /^ecdsa-sha2-nistp256 AAAA/m, 'the CA\'s public key was printed');
    assert.match(readFileSync(join(etcSsh, 'access-ca.pub'), 'utf8'), /^ecdsa-sha2-nistp256 AAAA/m);
    assert.match(readFileSync(join(etcSsh, 'sshd_config'), 'utf8'), new RegExp(`^TrustedUserCAKeys ${etcSsh}/access-ca\\.pub$`, 'm'));
    assert.match(all, /Key ID: "jdoe@example\.com cert=/, 'ssh-keygen -L read the certificate ssh-gen got');
    assert.match(all, /Principals: \n\s+jdoe\n/);
  });
});
