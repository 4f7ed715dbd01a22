import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { pageRequest } from '../platform/http/pagination.ts';
import { parseGoDuration } from '../platform/go-duration.ts';
import { parseUserPublicKey } from '../openssh/user-public-key.ts';
import { enrollHost, DEFAULT_AGENT_DIR, DEFAULT_HOST_KEYS } from '../host-agent/host-enroll.ts';
import { sshdConfigLines } from '../host-agent/host-sync.ts';
import { AgentError, serverOrigin } from '../host-agent/agent-http.ts';
import { CliInputError } from './cli-config.ts';
import { table, type Streams } from './output.ts';
import { asInput, type Run } from './cli-services.ts';
import { fetchKnownHosts, type RunClient } from './ssh-client-commands.ts';
import { terminalText } from './terminal-text.ts';

/** How the audit trail names an operator acting on the data directory. */
const CLI = 'cli';
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;
const collect = (value: string, previous: string[] = []) => [...previous, value];

function ttlSeconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const s = parseGoDuration(text);
  if (s === null || s <= 0) throw new CliInputError(`${flag} takes a duration such as 1h or 30m, got ${JSON.stringify(text)}`);
  return Math.round(s);
}

/**
 * `host …`: the fleet. On a host, `host enroll` (a client of the server, like sshd-sync). On the data dir,
 * the operator's verbs: join tokens, enrolled hosts, the account's host CA and revoked host keys.
 */
export function registerHostCommands(program: Command, run: Run, client: { runClient: RunClient; streams: Streams }): void {
  const host = program.command('host').description('enroll hosts, and manage enrolled hosts and the account\'s host CA');

  host.command('enroll').description('on a host, as root: enroll it with a join token, then write its trust bundle, KRL and host certificates')
    .requiredOption('--server <url>', 'the access-ca server\'s origin, e.g. https://ca.example.com')
    .requiredOption('--join-token-file <file>', 'the join token from `access-ca host join-token` (mode 0600, owned by you)')
    .option('--dir <dir>', 'where the credential, bundle, KRL and host certificates are kept (root-owned, made 0755)', DEFAULT_AGENT_DIR)
    .option('--host-key <file>', `a private host key to enroll (repeat it); default: those of ${DEFAULT_HOST_KEYS.join(', ')} that exist`, collect, [])
    .option('--replace', 'enroll again over the credential the directory holds')
    .option('--reload-command <command>', 'run after a host certificate changes, e.g. "systemctl reload ssh"')
    .option('--insecure-http', 'allow a plain-http --server that is not on loopback (the credential and trust material cross the network in clear)')
    .option('--json', 'print JSON')
    .action((o) => client.runClient(o.json, async (out) => {
      const dir = resolve(o.dir);
      const { credential, report } = await enrollHost({
        server: o.server, dir, joinTokenFile: resolve(o.joinTokenFile), hostKeys: (o.hostKey as string[]).map((k) => resolve(k)), replace: o.replace === true, reloadCommand: o.reloadCommand,
        insecureHttp: o.insecureHttp === true,
      });
      const lines = sshdConfigLines(dir, credential);
      const problems = report.errors.length > 0 ? `\nwarning: ${report.errors.join('; ')}` : '';
      out.result({ ...credential, sshd_config: lines, errors: report.errors },
        `enrolled as host ${credential.host_id} of target ${credential.target_id}; add to sshd_config, then reload sshd:\n${lines.join('\n')}${problems}`, lines.join('\n'));
      if (report.errors.length > 0) throw new AgentError(`enrolled, but the first sync failed: ${report.errors.join('; ')}; sshd-sync will retry`);
    }));

  host.command('join-token').description('make a single-use join token for a host (creates the target when no target has that hostname)')
    .requiredOption('--account <id>', 'account id')
    .option('--hostname <name>', 'the host\'s name: the target it enrolls as, and its host certificates\' principal')
    .option('--target <id>', 'an existing target, by id (instead of --hostname)')
    .option('--ttl <duration>', 'how long the token may be used, at most 24h', '1h')
    .option('--host-key-fingerprint <SHA256:…>', 'bind the token to this host key (repeat it); default: any key the host proves', collect, [])
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async (s, out) => {
      if ((o.hostname === undefined) === (o.target === undefined)) throw new CliInputError('name the host with exactly one of --hostname and --target');
      if (o.hostname !== undefined && !HOSTNAME.test(o.hostname)) throw new CliInputError(`--hostname must be a host name, got ${JSON.stringify(o.hostname)}`);
      const scope = await s.identity.resolveScope(o.account);
      const target = o.target !== undefined
        ? await asInput(s.fleet.targets.row(scope.accountId, o.target), { notFound: `no target ${o.target} in account ${o.account}` })
        : (await asInput(s.fleet.targets.ensure(scope.accountId, o.hostname, CLI))).target;
      const made = await asInput(s.fleet.enrollment.createJoinToken(target, { ttlSeconds: ttlSeconds(o.ttl, '--ttl'), hostKeyFingerprints: o.hostKeyFingerprint }, CLI));
      out.info(`join token for ${made.hostname} (target ${made.target_id}), usable once until ${made.expires_at}; it is shown only now`);
      out.result(made, made.token, made.token);
    }));

  host.command('join-tokens').description('list a target\'s join tokens (never their values): waiting, used or expired')
    .requiredOption('--account <id>', 'account id').requiredOption('--target <id>', 'the target').option('--json', 'print JSON')
    .action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const target = await asInput(s.fleet.targets.row(scope.accountId, o.target), { notFound: `no target ${o.target} in account ${o.account}` });
      const tokens = await s.fleet.enrollment.joinTokens(target);
      out.result({ join_tokens: tokens }, table(tokens, ['id', 'status', 'expires_at', 'created_by']));
    }));
  host.command('join-token-delete').description('withdraw a join token that has not been used: it stops working at once')
    .requiredOption('--account <id>', 'account id').requiredOption('--target <id>', 'the target').requiredOption('--id <id>', 'the join token\'s id (host join-tokens)')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const target = await asInput(s.fleet.targets.row(scope.accountId, o.target), { notFound: `no target ${o.target} in account ${o.account}` });
      const gone = await asInput(s.fleet.enrollment.deleteJoinToken(target, o.id, CLI), { notFound: `no join token ${o.id} for target ${o.target}: list them with access-ca host join-tokens --account ${o.account} --target ${o.target}` });
      out.result(gone, `join token ${gone.id} withdrawn`);
    }));
  host.command('list').description('list enrolled hosts, with when each last synced')
    .requiredOption('--account <id>', 'account id').option('--target <id>', 'only this target\'s hosts').option('--json', 'print JSON')
    .action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const all = [];
      for (let page = 1; ; page++) {
        const { items } = await s.fleet.enrollment.list(scope.accountId, o.target, pageRequest({ page: String(page), per_page: '1000' }));
        all.push(...items);
        if (items.length < 1000) break;
      }
      out.result({ hosts: all }, table(all.map((h) => ({ ...h, host_keys: h.host_keys.map((k) => k.fingerprint).join(' ') })), ['id', 'hostname', 'last_seen_at', 'host_keys']));
    }));
  host.command('remove').description('remove an enrolled host: its credential stops working at once')
    .requiredOption('--account <id>', 'account id').requiredOption('--host <id>', 'the enrolled host\'s id (host list)').option('--json', 'print JSON')
    .action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const gone = await asInput(s.fleet.enrollment.remove(scope.accountId, o.host, CLI), { notFound: `no enrolled host ${o.host} in account ${o.account}: list them with access-ca host list --account ${o.account}` });
      out.result(gone, `host ${gone.id} removed`);
    }));

  const ca = host.command('ca').description('the account\'s host CA: show it, and rotate its key (rotate → activate → retire)');
  const account = (c: Command) => c.requiredOption('--account <id>', 'account id').option('--json', 'print JSON');
  account(ca.command('show').description('show the host CA (made on first use) and its keys'))
    .action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const got = await asInput(s.fleet.hostCa.configure(scope.accountId, undefined, CLI));
      out.result(got, `host CA ${got.id} signs with:\n${got.public_key}\n${table(got.keys, ['id', 'state', 'created_at'])}`, got.public_key);
    }));
  for (const [verb, what] of [['rotate', 'add a next key; clients trust it through known-hosts before it signs'], ['activate', 'sign host certificates with the next key from now on'], ['retire', 'delete the previous key: certificates it signed are refused by clients']] as const) {
    account(ca.command(verb).description(what)).action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const step = await asInput(s.fleet.hostCa[verb](scope.accountId, CLI));
      out.result(step, `host CA ${verb}: key ${step.id}`);
    }));
  }
  account(host.command('revoke-key').description('revoke a host key: clients refuse it (@revoked in known-hosts) and it is never certified again'))
    .requiredOption('--public-key-file <file>', 'the host\'s public key file, e.g. ssh_host_ed25519_key.pub')
    .requiredOption('--reason <text>', 'why, for the audit trail')
    .action((o) => run(o.json, async (s, out) => {
      const scope = await s.identity.resolveScope(o.account);
      const line = readFileSync(resolve(o.publicKeyFile), 'utf8').trim();
      parseUserPublicKey(line);
      const revoked = await asInput(s.fleet.hostCa.revokeHostKey(scope.accountId, line, o.reason, CLI));
      out.result(revoked, `revoked host key ${revoked.fingerprint}`, revoked.fingerprint);
    }));

  program.command('known-hosts').description('print the known_hosts lines that let ssh check a host by the account\'s host CA (no trust-on-first-use)')
    .requiredOption('--server <url>', 'the access-ca server\'s origin')
    .requiredOption('--hostname <host>', 'a host the account holds; the lines cover the account\'s names around it')
    .option('--insecure-http', 'allow a plain-http --server that is not on loopback (anyone on the path could replace the lines)')
    .option('--json', 'print JSON')
    .action((o) => client.runClient(o.json, async (out) => {
      if (!HOSTNAME.test(o.hostname)) throw new CliInputError(`--hostname must be a host name, got ${JSON.stringify(o.hostname)}`);
      const text = await fetchKnownHosts(serverOrigin(o.server, '--server', { insecureHttp: o.insecureHttp === true }), o.hostname.toLowerCase());
      out.result({ hostname: o.hostname.toLowerCase(), known_hosts: text }, terminalText(text.trimEnd()), text.trimEnd());
    }));
}
