import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { decodeKrl, encodeKrl } from '../../src/openssh/krl.ts';
import { publicKeyBlob } from '../../src/openssh/public-key-blob.ts';
import { join } from 'node:path';
import { runCliInProcess } from '../helpers/server-process.ts';
import { makeTestIdp } from '../helpers/test-idp.ts';
import { testTempDir } from '../helpers/temp-dir.ts';

const tmp = () => testTempDir('access-ca-sshcli-');
const one = (s: string) => JSON.parse(s.trim());

describe('CLI for certificates', () => {
  it('sshd-config writes the CA key and the KRL, keeping other CAs, and prints TrustedUserCAKeys and RevokedKeys', async () => {
    const dir = tmp();
    // A stand-in for `sshd -T`: what sshd says it uses is what the test writes here.
    const sshdSays = join(dir, 'sshd-says');
    const fakeSshd = join(dir, 'sshd');
    writeFileSync(fakeSshd, `#!/bin/sh\n[ "$1" = -T ] || exit 9\ncat ${sshdSays}\n`);
    chmodSync(fakeSshd, 0o755);
    const says = (ca: string, krl: string) => writeFileSync(sshdSays, `port 22\ntrustedusercakeys ${ca}\nrevokedkeys ${krl}\npermitrootlogin without-password\n`);
    says('none', 'none');
    const cli = (...a: string[]) => runCliInProcess(['--data-dir', join(dir, 'data'), ...a]);
    const account = one((await cli('account', 'create', '--name', 'x', '--json')).stdout).id;
    const app = one((await cli('app', 'create', '--account', account, '--name', 'b', '--domain', 'b.example.com', '--json')).stdout).id;
    const caFile = join(dir, 'ca.pub');
    const krlFile = join(dir, 'ca.krl');
    const files = ['--ca-file', caFile, '--krl-file', krlFile, '--sshd', fakeSshd];
    const noCa = await cli('sshd-config', '--account', account, '--app', app, ...files);
    assert.equal(noCa.code, 2);
    assert.match(noCa.stderr, new RegExp(`application ${app} has no SSH CA yet: create it with access-ca ca create --account ${account} --app ${app}`));

    // Make the CA through the same service the API uses.
    const { withServices } = await import('../../src/cli/cli-services.ts');
    const { storeConfig } = await import('../../src/cli/cli-config.ts');
    const ca = await withServices(storeConfig({ dataDir: join(dir, 'data') }, {}, dir), (s) => s.cas.create({ accountId: account, zoneId: null }, app));

    // The host trusts another CA already, whose revocations are in the KRL file; a third CA's section is stale.
    const blobOf = () => publicKeyBlob(generateKeyPairSync('ed25519').publicKey);
    const other = blobOf();
    const gone = blobOf();
    const revokedKey = createHash('sha256').update('a revoked user key').digest();
    writeFileSync(caFile, `# the team's other CA\nssh-ed25519 ${other.toString('base64')} other\n`);
    writeFileSync(krlFile, encodeKrl({
      version: 41n, generatedDate: 0n, comment: 'earlier',
      certificates: [{ caKeyBlob: other, serials: [7n], keyIds: [] }, { caKeyBlob: gone, serials: [9n], keyIds: [] }], sha256Keys: [revokedKey],
    }));
    const r = await cli('sshd-config', '--account', account, '--app', app, ...files, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = one(r.stdout);
    assert.equal(out.public_key, ca.public_key);
    assert.deepEqual(out.sshd_config, [`TrustedUserCAKeys ${caFile}`, `RevokedKeys ${krlFile}`]);
    const first = readFileSync(caFile, 'utf8');
    assert.ok(first.startsWith('# the team\'s other CA\nssh-ed25519 '), first);
    assert.ok(first.endsWith(`# access-ca app ${app}\n${ca.public_key}\n`));
    assert.equal(statSync(caFile).mode & 0o777, 0o644);
    const krl = decodeKrl(readFileSync(krlFile));
    assert.equal(krl.version, 42n, 'the KRL file\'s version only grows');
    assert.deepEqual(krl.certificates.map((c) => [c.caKeyBlob?.toString('base64'), c.serials]), [[other.toString('base64'), [7n]]], 'the other CA\'s revocations are kept, the untrusted CA\'s dropped');
    assert.deepEqual(krl.sha256Keys, [revokedKey]);
    assert.equal(statSync(krlFile).mode & 0o777, 0o644);

    // The human output is what `| tee -a sshd_config` appends: the two lines sshd does not have yet.
    const human = await cli('sshd-config', '--account', account, '--app', app, ...files);
    assert.equal(human.code, 0, human.stderr);
    assert.deepEqual(human.stdout.split('\n').filter((l) => !l.startsWith('#') && l !== ''), [`TrustedUserCAKeys ${caFile}`, `RevokedKeys ${krlFile}`]);
    assert.equal(readFileSync(caFile, 'utf8'), first, 'running it again changes nothing in the CA file');
    // Once sshd uses both files, nothing is printed to append again.
    says(caFile, krlFile);
    const again = await cli('sshd-config', '--account', account, '--app', app, ...files);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /^(TrustedUserCAKeys|RevokedKeys) /m);
    assert.match(again.stdout, /sshd already uses these files: reload it/);
    assert.equal((await cli('--quiet', 'sshd-config', '--account', account, '--app', app, ...files)).stdout.trim(), '');

    // sshd reads one file of each: another one already in use is refused, and nothing is written.
    const before = [readFileSync(caFile, 'utf8'), readFileSync(krlFile).toString('base64')];
    says('/etc/ssh/team_cas.pub', krlFile);
    const otherCa = await cli('sshd-config', '--account', account, '--app', app, ...files);
    assert.equal(otherCa.code, 2);
    assert.match(otherCa.stderr, /sshd already trusts the user CAs in \/etc\/ssh\/team_cas\.pub \(sshd -T\).*--ca-file \/etc\/ssh\/team_cas\.pub/);
    says(caFile, '/etc/ssh/revoked_keys');
    const otherKrl = await cli('sshd-config', '--account', account, '--app', app, ...files);
    assert.equal(otherKrl.code, 2);
    assert.match(otherKrl.stderr, /sshd already enforces the revocation list \/etc\/ssh\/revoked_keys/);
    assert.deepEqual([readFileSync(caFile, 'utf8'), readFileSync(krlFile).toString('base64')], before);

    // An sshd that cannot say is not guessed at: refused, unless the operator says the config is for elsewhere.
    const broken = await cli('sshd-config', '--account', account, '--app', app, '--ca-file', caFile, '--krl-file', krlFile, '--sshd', join(dir, 'no-such-sshd'));
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /cannot tell which CA and KRL files sshd already uses \(.*no-such-sshd is not installed here\).*--no-sshd-check/);
    const elsewhere = await cli('sshd-config', '--account', account, '--app', app, '--ca-file', caFile, '--krl-file', krlFile, '--no-sshd-check');
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.match(elsewhere.stdout, /^RevokedKeys /m);

    // A RevokedKeys file that is not a KRL may be someone else's: refused, never replaced.
    const notKrl = join(dir, 'revoked.txt');
    writeFileSync(notKrl, 'ssh-ed25519 AAAA... a revoked key, by hand\n');
    const refused = await cli('sshd-config', '--account', account, '--app', app, '--ca-file', caFile, '--krl-file', notKrl, '--no-sshd-check');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /revoked\.txt is not a KRL access-ca can read/);
    assert.equal(readFileSync(notKrl, 'utf8'), 'ssh-ed25519 AAAA... a revoked key, by hand\n');
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
