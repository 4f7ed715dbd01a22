import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { runCliInProcess, startServer, type ServerProcess } from '../helpers/server-process.ts';
import { makeTestIdp, type TestIdp } from '../helpers/test-idp.ts';
import { testTempDir } from '../helpers/temp-dir.ts';
import { eventually } from '../helpers/eventually.ts';
import { PERMISSION_GROUPS } from '../../src/identity/permission-groups.ts';
import { authorizedKeyLine, publicKeyBlob } from '../../src/openssh/public-key-blob.ts';

const keyLine = () => authorizedKeyLine(publicKeyBlob(generateKeyPairSync('ed25519').publicKey));

type Line = Record<string, any>;
const linesOf = (path: string): Line[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []);

/** A real `serve --audit-log <dir>/audit.log …`, and the API calls the tests make through it. */
async function streamingServer(extraArgs: string[] = []) {
  const path = join(testTempDir('access-ca-audit-log-'), 'audit.log');
  const server = await startServer({ args: ['--audit-log', path, ...extraArgs] });
  const call = async (method: string, rest: string, body?: unknown, token = server.token) => {
    const url = rest.startsWith('/cdn-cgi') ? `${server.origin}${rest}` : `${server.base}/accounts/${server.accountId}${rest}`;
    const res = await fetch(url, {
      method, headers: { ...(rest.startsWith('/cdn-cgi') ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
    }).catch((error: Error) => {
      throw new Error(`${method} ${rest}: ${String(error.cause ?? error)} (server exit ${server.child.exitCode ?? server.child.signalCode ?? 'none'}):\n${server.stderr().slice(-2000)}`);
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { server, path, call };
}

describe('serve --audit-log: a real server process', () => {
  const servers: ServerProcess[] = [];
  const idps: TestIdp[] = [];
  after(async () => {
    for (const s of servers) await s.stop('SIGKILL');
    for (const idp of idps) await idp.close();
  });

  it('SIGKILL right after an acknowledged cert_sign (issued, then refused) leaves both lines in the file', async () => {
    const { server, path, call } = await streamingServer();
    servers.push(server);
    const made = await runCliInProcess(['--data-dir', server.dataDir, 'token', 'create', '--account', server.accountId, ...PERMISSION_GROUPS.flatMap((g) => ['--permission', g]), '--json']);
    assert.equal(made.code, 0, made.stderr);
    const admin = JSON.parse(made.stdout).value as string;
    const idp = await makeTestIdp('https://kill.example');
    idps.push(idp);
    assert.equal((await call('POST', '/access/identity_providers', { name: 'p', config: { issuer: idp.issuer, jwks: idp.jwks } }, admin)).status, 201);
    const app = (await call('POST', '/access/apps', { name: 'kill', domain: `kill-${randomUUID()}.example.com` }, admin)).body.result;
    assert.equal((await call('POST', `/access/apps/${app.id}/ca`, undefined, admin)).status, 200);
    assert.equal((await call('POST', `/access/apps/${app.id}/policies`, { name: 'staff', decision: 'allow', include: [{ email_domain: { domain: 'example.com' } }] }, admin)).status, 201);

    const issued = await call('POST', '/cdn-cgi/access/cert_sign', { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'alice@example.com' }) });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const refused = await call('POST', '/cdn-cgi/access/cert_sign', { public_key: keyLine(), jwt: await idp.sign({ aud: [app.aud], email: 'eve@partner.example' }) });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    // No grace: the process dies before it could write anything it had not written before answering.
    server.child.kill('SIGKILL');
    assert.equal(await server.stop(), null);

    const lines = linesOf(path);
    const issuedLine = lines.find((l) => l['type'] === 'ssh_certificate.issued' && l['subject'] === issued.body.id);
    assert.ok(issuedLine, 'the issued certificate\'s event is in the file');
    assert.equal(issuedLine['actor'], 'alice@example.com');
    assert.equal(issuedLine['stream'], 1);
    const refusedLine = lines.find((l) => l['type'] === 'ssh_certificate.refused' && l['actor'] === 'eve@partner.example');
    assert.equal(refusedLine?.['subject'], app.id, 'the refusal\'s event is in the file');
    assert.ok(readFileSync(path, 'utf8').endsWith('\n'), 'the file ends with a whole line');
  });

  it('SIGHUP reopens the file: after logrotate renames it, the next event lands in a new file at the same path', async () => {
    const { server, path, call } = await streamingServer();
    servers.push(server);
    // The first start's token event is written on its own (it is made outside any request).
    await eventually('the first start\'s event', () => linesOf(path).find((l) => l['type'] === 'api_token.created'));
    const first = await call('POST', '/access/policies', { name: 'before rotation', decision: 'allow', include: [{ everyone: {} }] });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.ok(linesOf(path).some((l) => l['subject'] === first.body.result.id));

    const rotated = `${path}.1`;
    renameSync(path, rotated);
    server.child.kill('SIGHUP');
    await eventually('the reopened file', () => (existsSync(path) ? true : undefined));
    const second = await call('POST', '/access/policies', { name: 'after rotation', decision: 'allow', include: [{ everyone: {} }] });
    assert.equal(second.status, 201, JSON.stringify(second.body));

    assert.deepEqual(linesOf(path).map((l) => l['subject']), [second.body.result.id], 'the new file holds the event made after SIGHUP, and only it');
    assert.ok(linesOf(rotated).some((l) => l['subject'] === first.body.result.id));
    assert.ok(!linesOf(rotated).some((l) => l['subject'] === second.body.result.id), 'nothing is written to the rotated file after SIGHUP');
    assert.equal(server.child.exitCode, null, 'SIGHUP does not stop the server');
    assert.equal(await server.stop(), 0);
  });

  it('a file that refuses writes (/dev/full: ENOSPC): a change is answered 503 with retry-after, a read is answered as ever', async (t) => {
    if (!existsSync('/dev/full')) return t.skip('no /dev/full here: it is the disk that is always full');
    const server = await startServer({ args: ['--audit-log', '/dev/full'], env: { ACCESS_CA_LOG_LEVEL: 'error' } });
    servers.push(server);
    const at = `${server.base}/accounts/${server.accountId}/access/policies`;
    const headers = { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' };
    const change = await fetch(at, { method: 'POST', headers, body: JSON.stringify({ name: 'not acknowledged', decision: 'allow', include: [{ everyone: {} }] }) });
    assert.equal(change.status, 503);
    assert.equal(change.headers.get('retry-after'), '5');
    assert.deepEqual(await change.json(), { success: false, errors: [{ code: 10503, message: 'The audit log could not be written; retry the request' }], messages: [], result: null });
    assert.equal((await fetch(at, { headers })).status, 200);
    assert.equal(await server.stop(), 0);
    const logged = server.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
    assert.ok(logged.some((l) => /answered 503/.test(String(l['msg'])) && l['err']?.code === 'ENOSPC'), `the refusal is logged with its cause:\n${server.stdout()}`);
  });

  it('--audit-syslog sends the same lines to the syslog socket (authpriv.info, tagged access-ca-audit) through logger', async (t) => {
    for (const [tool, args] of [['python3', ['-V']], ['logger', ['-V']]] as const) {
      if (spawnSync(tool, args, { stdio: 'ignore' }).error) return t.skip(`${tool} is not installed here: the test's syslog socket is a python3 listener, and the copy goes through util-linux logger`);
    }
    const socket = join(testTempDir('access-ca-syslog-'), 'log.sock');
    // A syslog daemon's socket, as rsyslog's /dev/log: AF_UNIX datagrams, one message each (Node cannot bind one).
    const listener = spawn('python3', ['-c', [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(sys.argv[1])',
      'print("ready", flush=True)',
      'while True:',
      '    sys.stdout.write(s.recv(1 << 20).decode("utf-8", "replace").replace("\\n", " ") + "\\n")',
      '    sys.stdout.flush()',
    ].join('\n'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => listener.kill('SIGKILL'));
    let received = '';
    listener.stdout.setEncoding('utf8').on('data', (d: string) => (received += d));
    await eventually('the listener', () => (received.startsWith('ready\n') ? true : undefined));

    const { server, path, call } = await streamingServer(['--audit-syslog', socket]);
    servers.push(server);
    const made = await call('POST', '/access/policies', { name: 'syslogged', decision: 'allow', include: [{ everyone: {} }] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const line = readFileSync(path, 'utf8').split('\n').find((l) => l.includes(made.body.result.id))!;
    const message = await eventually('the syslog copy', () => received.split('\n').find((m) => m.includes(made.body.result.id)));
    assert.match(message, /^<86>/, 'authpriv.info: facility 10 × 8 + severity 6');
    assert.ok(message.endsWith(` access-ca-audit: ${line}`), message);
    assert.equal(await server.stop(), 0);
  });

  it('flags are checked at start: --audit-syslog needs --audit-log and a socket; an unwritable path is refused with its reason', async () => {
    const dir = testTempDir('access-ca-audit-flags-');
    const cases: [string[], RegExp][] = [
      [['--audit-syslog'], /--audit-syslog copies the lines of --audit-log/],
      [['--audit-log', join(dir, 'a.log'), '--audit-syslog', join(dir, 'no.sock')], /no\.sock is not a socket/],
      [['--audit-log', join(dir, 'missing', 'a.log')], /--audit-log: cannot open .*missing\/a\.log for appending \(ENOENT\)/],
    ];
    for (const [args, message] of cases) {
      const r = await runCliInProcess(['--data-dir', join(dir, 'data'), 'serve', '--listen', '127.0.0.1:0', ...args], { PATH: process.env['PATH'] ?? '' });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const help = await runCliInProcess(['serve', '--help']);
    for (const flag of ['--audit-log <file>', '--audit-log-fsync', '--audit-syslog [socket]']) assert.ok(help.stdout.includes(flag), `--help explains ${flag}`);
  });
});
