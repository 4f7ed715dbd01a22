import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCliInProcess } from '../helpers/server-process.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const tmp = () => testTempDir('access-ca-sshcli-');
const one = (s: string) => JSON.parse(s.trim());

describe('CLI for certificates', () => {
  it('sshd-config writes the CA key into a TrustedUserCAKeys file, keeping other CAs, replacing its own line', async () => {
    const dir = tmp();
    const cli = (...a: string[]) => runCliInProcess(['--data-dir', join(dir, 'data'), ...a]);
    const account = one((await cli('account', 'create', '--name', 'x', '--json')).stdout).id;
    const app = one((await cli('app', 'create', '--account', account, '--name', 'b', '--domain', 'b.example.com', '--json')).stdout).id;
    const noCa = await cli('sshd-config', '--account', account, '--app', app, '--ca-file', join(dir, 'ca.pub'));
    assert.equal(noCa.code, 2);
    assert.match(noCa.stderr, new RegExp(`application ${app} has no SSH CA yet: create it with access-ca ca create --account ${account} --app ${app}`));

    // Make the CA through the same service the API uses.
    const { withServices } = await import('../../src/cli/cli-services.ts');
    const { storeConfig } = await import('../../src/cli/cli-config.ts');
    const ca = await withServices(storeConfig({ dataDir: join(dir, 'data') }, {}, dir), (s) => s.cas.create({ accountId: account, zoneId: null }, app));

    const caFile = join(dir, 'ca.pub');
    writeFileSync(caFile, '# the team\'s other CA\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherCaKeyOtherCaKeyOtherCaKeyOtherCa other\n');
    const r = await cli('sshd-config', '--account', account, '--app', app, '--ca-file', caFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = one(r.stdout);
    assert.equal(out.public_key, ca.public_key);
    assert.deepEqual(out.sshd_config, [`TrustedUserCAKeys ${caFile}`]);
    const first = readFileSync(caFile, 'utf8');
    assert.ok(first.startsWith('# the team\'s other CA\nssh-ed25519 AAAAC3'), first);
    assert.ok(first.endsWith(`# access-ca app ${app}\n${ca.public_key}\n`));
    assert.equal(statSync(caFile).mode & 0o777, 0o644);
    await cli('sshd-config', '--account', account, '--app', app, '--ca-file', caFile);
    assert.equal(readFileSync(caFile, 'utf8'), first, 'running it again changes nothing');
    const human = await cli('sshd-config', '--account', account, '--app', app, '--ca-file', caFile);
    assert.match(human.stdout, /^TrustedUserCAKeys /m);
  });

  it('app policy shows the effective policy and replaces it from a file, refusing a bad one', async () => {
    const dir = tmp();
    const cli = (...a: string[]) => runCliInProcess(['--data-dir', join(dir, 'data'), ...a]);
    const account = one((await cli('account', 'create', '--name', 'x', '--json')).stdout).id;
    const app = one((await cli('app', 'create', '--account', account, '--name', 'b', '--domain', 'b.example.com', '--json')).stdout).id;
    assert.equal(one((await cli('app', 'policy', '--account', account, '--app', app, '--json')).stdout).ttl, '3m');
    writeFileSync(join(dir, 'p.json'), JSON.stringify({ ttl: '10m', principals: { allow: ['ops-*'] } }));
    const set = one((await cli('app', 'policy', '--account', account, '--app', app, '--set', join(dir, 'p.json'), '--json')).stdout);
    assert.equal(set.ttl, '10m');
    assert.deepEqual(set.principals.allow, ['ops-*']);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ttl: '2h', max_ttl: '1h' }));
    const bad = await cli('app', 'policy', '--account', account, '--app', app, '--set', join(dir, 'bad.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /ttl must not exceed max_ttl \(1h\): set max_ttl as well to allow it \(\/ttl\)/);
    writeFileSync(join(dir, 'unknown.json'), JSON.stringify({ tll: '2m' }));
    assert.equal((await cli('app', 'policy', '--account', account, '--app', app, '--set', join(dir, 'unknown.json'))).code, 2);
    assert.equal(one((await cli('app', 'policy', '--account', account, '--app', app, '--json')).stdout).ttl, '10m', 'a refused policy changed nothing');
  });

  it('idp add takes a JWKS URL or file, refuses a private key and an http issuer off loopback', async () => {
    const dir = tmp();
    const idp = await makeTestIdp('https://login.example.com');
    const cli = (...a: string[]) => runCliInProcess(['--data-dir', join(dir, 'data'), ...a]);
    const account = one((await cli('account', 'create', '--name', 'x', '--json')).stdout).id;
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(idp.jwks));
    const added = await cli('idp', 'add', '--account', account, '--issuer', idp.issuer, '--jwks-file', join(dir, 'jwks.json'), '--json');
    assert.equal(added.code, 0, added.stderr);
    assert.equal(one(added.stdout).config.jwks.keys[0].kid, idp.kid);
    writeFileSync(join(dir, 'private.json'), JSON.stringify({ keys: [{ ...idp.jwks.keys[0], d: 'AAAA' }] }));
    const priv = await cli('idp', 'add', '--account', account, '--issuer', 'https://other.example', '--jwks-file', join(dir, 'private.json'));
    assert.equal(priv.code, 2);
    assert.match(priv.stderr, /public keys only/);
    const http = await cli('idp', 'add', '--account', account, '--issuer', 'http://login.example.com', '--jwks-url', 'https://login.example.com/jwks');
    assert.match(http.stderr, /must be https/);
    const listed = one((await cli('idp', 'list', '--account', account, '--json')).stdout).identity_providers;
    assert.equal(listed.length, 1);
    assert.equal((await cli('idp', 'remove', listed[0].id, '--account', account)).code, 0);
    await idp.close();
  });

  it('ssh-gen refuses host names that could leave its directory, and a server with a path', async () => {
    const dir = tmp();
    for (const host of ['../../etc/passwd', 'a/b', '.hidden', 'a b', '']) {
      const r = await runCliInProcess(['ssh-gen', '--hostname', host, '--server', 'https://ca.example.com', '--dir', dir, '--jwt-file', '/dev/null']);
      assert.equal(r.code, 2, host);
      assert.match(r.stderr, /--hostname must be a DNS name/);
    }
    const base = await runCliInProcess(['ssh-gen', '--hostname', 'h.example.com', '--server', 'https://ca.example.com/client/v4', '--dir', dir]);
    assert.match(base.stderr, /without a path/);
    const notSignedIn = await runCliInProcess(['ssh-gen', '--hostname', 'h.example.com', '--server', 'http://127.0.0.1:9', '--dir', dir, '--no-sign-in']);
    assert.equal(notSignedIn.code, 1);
    assert.match(notSignedIn.stderr, /sign-in needed for h\.example\.com: run access-ca login --server http:\/\/127\.0\.0\.1:9 --hostname h\.example\.com/);
    const signInUnreachable = await runCliInProcess(['ssh-gen', '--hostname', 'h.example.com', '--server', 'http://127.0.0.1:9', '--dir', dir, '--no-browser']);
    assert.equal(signInUnreachable.code, 1);
    assert.match(signInUnreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
    const unreachable = await runCliInProcess(['ssh-gen', '--hostname', 'h.example.com', '--server', 'http://127.0.0.1:9', '--dir', dir], { ACCESS_CA_JWT: 'x.y.z' });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'h.example.com-cf_key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'h.example.com-cf_key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  });

  it('ssh-config prints the Match exec block', async () => {
    const r = await runCliInProcess(['ssh-config', '--hostname', '*.corp.example', '--server', 'https://ca.example.com', '--dir', '/home/me/.access-ca', '--json']);
    const block = one(r.stdout).ssh_config.split('\n');
    assert.match(block[0], /^Match host \*\.corp\.example exec ".+ ssh-gen --hostname %h --server https:\/\/ca\.example\.com --dir \/home\/me\/\.access-ca --no-sign-in"$/);
    assert.deepEqual(block.slice(1), ['  IdentityFile /home/me/.access-ca/%h-cf_key', '  CertificateFile /home/me/.access-ca/%h-cf_key-cert.pub']);
  });
});
