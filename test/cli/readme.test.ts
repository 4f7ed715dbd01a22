import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cleanEnv, CLI_COMMAND, ROOT } from '../helpers/server-process.ts';
import { addTestUser, sshdUnavailable, sshWith, startSshd } from '../helpers/sshd.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { runCliInProcess } from '../helpers/server-process.ts';

/**
 * The README's walk, then every page under docs/, run in order as a newcomer would paste them, on a fresh
 * directory: every fenced block after a `<!-- readme-test -->` comment runs in bash (`set -euo pipefail`,
 * variables carried from block to block and from page to page), `<!-- readme-test: serve -->` is the
 * server started in its own "terminal", and `<!-- readme-test: NAME.mjs -->` is a file saved and run with
 * node. The walk ends with a stock sshd, configured by the lines the walk wrote, accepting the certificate
 * the walk got from the trial identity provider: no outside script, no outside IdP. When the pages and
 * the product disagree, a block fails here.
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

const DOCS = join(ROOT, 'docs');
const docPages = () => readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort();

describe('README and docs/', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  });

  it('the README is a front door: at most about 200 lines, the two commands on its first screen, no shipped capability called future work', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const lines = readme.split('\n');
    assert.ok(lines.length <= 210, `README.md has ${lines.length} lines`);
    const firstScreen = lines.slice(0, 40).join('\n');
    assert.match(firstScreen, /npm ci && npm start/);
    assert.match(firstScreen, /npm test/);
    for (const page of ['README.md', ...docPages().map((f) => `docs/${f}`)]) {
      const text = readFileSync(join(ROOT, page), 'utf8');
      assert.doesNotMatch(text, /next pieces? of work|(revocation|rotation|host certificates?|KRLs?)[^.\n]{0,40}\b(are|is) (the )?(next|planned|coming|not yet)/i, `${page} calls a shipped capability future work`);
      assert.doesNotMatch(text, /npx access-ca [a-z-]/, `${page}: never through npx (it falls back to the registry)`);
    }
  });

  it('every docs/ page is linked from the README or docs/README.md, and every relative link resolves', () => {
    const links = (page: string) => [...readFileSync(join(ROOT, page), 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    const linked = new Set<string>();
    for (const page of ['README.md', 'docs/README.md', ...docPages().map((f) => `docs/${f}`)]) {
      const base = page.includes('/') ? DOCS : ROOT;
      for (const link of links(page)) {
        const target = join(base, link);
        assert.ok(existsSync(target), `${page} links to ${link}, which does not exist`);
        if (page === 'README.md' || page === 'docs/README.md') linked.add(target);
      }
    }
    for (const f of docPages()) if (f !== 'README.md') assert.ok(linked.has(join(DOCS, f)), `docs/${f} is linked from neither README.md nor docs/README.md`);
  });

  it('the walk goes from the first start to a stock sshd accepting the certificate, then every page\'s commands work', async (t) => {
    for (const tool of ['bash', 'curl', 'ssh-keygen']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return t.skip(`${tool} is not installed`);
    }
    const noSshd = sshdUnavailable();
    if (noSshd) return t.skip(noSshd);
    const pages = [{ page: 'README.md', blocks: readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8')) },
      ...docPages().map((f) => ({ page: `docs/${f}`, blocks: readmeBlocks(readFileSync(join(DOCS, f), 'utf8')) }))];
    assert.ok(pages[0]!.blocks.length >= 6, `the README marks its commands (found ${pages[0]!.blocks.length} blocks)`);

    const tmp = testTempDir('access-ca-readme-');
    const work = join(tmp, 'work');
    const home = join(tmp, 'home');
    const bin = join(tmp, 'bin');
    const etcSsh = join(tmp, 'etc', 'ssh');
    for (const dir of [work, home, bin, etcSsh]) mkdirSync(dir, { recursive: true });
    // `access-ca` is this checkout's CLI (the alias the README suggests); npx is never used.
    writeFileSync(join(bin, 'access-ca'), `#!/bin/sh\nexec ${CLI_COMMAND} "$@"\n`);
    writeFileSync(join(bin, 'npx'), '#!/bin/sh\necho "npx: the pages must not use npx" >&2\nexit 127\n');
    for (const f of ['access-ca', 'npx']) chmodSync(join(bin, f), 0o755);

    // The person of the walk is a real Unix account, so the certificate's principal can log in.
    const person = addTestUser('rdm');
    t.after(() => person.remove());
    const port = await freePort();
    const env = cleanEnv({ HOME: home, PATH: `${bin}:${process.env['PATH'] ?? ''}`, ACCESS_CA_LISTEN: `127.0.0.1:${port}`, ACCESS_CA_LOG_LEVEL: 'warn' });
    const substitute = (text: string) => text
      .replaceAll('alice@example.com', `${person.name}@example.com`)
      .replaceAll('127.0.0.1:8787', `127.0.0.1:${port}`)
      .replaceAll('/etc/ssh/', `${etcSsh}/`);
    const state = join(tmp, 'state.sh');
    const exported = (name: string) => new RegExp(`^declare -x ${name}="([^"]*)"$`, 'm').exec(existsSync(state) ? readFileSync(state, 'utf8') : '')?.[1];
    const bash = (script: string) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-c', `set -euo pipefail\n[ -f ${state} ] && . ${state}\n${script}\nexport -p > ${state}\n`], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('exit', (status) => resolve({ status, stdout, stderr }));
    });
    const outputs: string[] = [];

    for (const { page, blocks } of pages) {
      for (const block of blocks) {
        const where = `${page} line ${block.line} (${block.marker})`;
        if (block.marker === 'serve') {
          assert.equal(block.text.trim(), 'access-ca serve', `${where}: the serve block is the one command`);
          assert.equal(page, 'README.md', `${where}: only the walk starts the server`);
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
      if (page !== 'README.md') continue;

      // The walk's last step: sshd, configured by what step 6 wrote, accepts the certificate of step 5.
      const all = outputs.join('\n');
      assert.match(exported('ACCOUNT_ID') ?? '', /^[0-9a-f]{32}$/, 'account list --quiet gave the first start\'s account');
      assert.match(exported('CLOUDFLARE_API_TOKEN') ?? '', /^\S{20,}$/, 'token create --quiet gave the bare token');
      assert.match(all, /^ecdsa-sha2-nistp256 AAAA/m, 'the CA\'s public key was printed');
      assert.match(all, new RegExp(`Key ID: "${person.name}@example\\.com[^"]*trial`), 'the key id names the person and the trial provider');
      const sshdLines = readFileSync(join(etcSsh, 'sshd_config'), 'utf8').split('\n').filter((l) => /^(TrustedUserCAKeys|RevokedKeys) /.test(l));
      assert.deepEqual(sshdLines.map((l) => l.split(' ')[0]), ['TrustedUserCAKeys', 'RevokedKeys'], 'sshd-config printed both lines');
      const sshd = await startSshd(sshdLines);
      t.after(() => sshd.stop());
      const key = join(home, '.access-ca', 'bastion.example.com-cf_key');
      const login = sshWith({ port: sshd.port, user: person.name, key, cert: `${key}-cert.pub`, command: 'id -un' });
      assert.equal(login.status, 0, `a stock sshd accepts the walk's certificate:\n${login.stderr}\n${sshd.log()}`);
      assert.equal(login.stdout.trim(), person.name);
    }
  });
});
