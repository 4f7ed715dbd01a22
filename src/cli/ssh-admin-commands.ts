import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../platform/clock.ts';
import { pageRequest } from '../platform/http/pagination.ts';
import { IdentityInputError } from '../identity/identity-service.ts';
import { ApiError } from '../platform/http/errors.ts';
import { IdpInput } from '../identity-providers/identity-providers-schemas.ts';
import { CertPolicyInput } from '../ssh-certs/policy/cert-policy-schemas.ts';
import { DEFAULT_POLICY, normalizePolicy, policyView } from '../ssh-certs/policy/cert-policy.ts';
import { formatGoDuration, parseGoDuration } from '../platform/go-duration.ts';
import { table, type Streams } from './output.ts';
import type { RunClient } from './ssh-client-commands.ts';
import { KRL_FILE, sshdConfigFromServer, TRUST_FILE } from './sshd-sync.ts';
import { caFileBlobs, conflictWithSshd, mergeKrlFile, readSshdTrust } from './sshd-files.ts';
import { asInput, checkedDocument, checkedInput, collect, noCa, requireApp, verb, type Run } from './cli-services.ts';
import { CLI_ACTOR } from '../audit/audit-log.ts';

/** A file named by a flag; a missing or unreadable one is the operator's to fix, said without a stack. */
export function readFlagFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new IdentityInputError(`${flag} ${path}: ${why}; give ${flag} the path of a readable file`);
  }
}

function readJsonFile(path: string, flag: string): unknown {
  const text = readFlagFile(path, flag);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new IdentityInputError(`${flag} ${path}: not JSON (${(error as Error).message})`);
  }
}

/**
 * A policy file whose ttl is over its max_ttl is refused, not taken with a silently raised max_ttl: when
 * the file sets ttl alone, max_ttl is the default, and the operator is told to set it too.
 */
function ttlWithinMax(input: { ttl?: string; max_ttl?: string }, label: string): void {
  if (input.ttl === undefined || input.max_ttl !== undefined) return;
  const ttl = parseGoDuration(input.ttl);
  if (ttl !== null && ttl > DEFAULT_POLICY.maxTtl) {
    throw new IdentityInputError(
      `${label}: ttl ${input.ttl} is over max_ttl, which is ${formatGoDuration(DEFAULT_POLICY.maxTtl)} when not given (at /ttl): ` +
      `set "max_ttl" too (at least "${input.ttl}"), or a shorter ttl`,
    );
  }
}

/**
 * Puts the CA key line into a TrustedUserCAKeys file, keeping every other line: the file may trust
 * other CAs too. The line is tagged with the app id so a later run replaces it (after a new CA, say).
 */
export function mergeTrustedCaFile(path: string, appId: string, keyLine: string): void {
  const tag = `# access-ca app ${appId}`;
  const old = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
  if (old.at(-1) === '') old.pop();
  const kept: string[] = [];
  for (let i = 0; i < old.length; i++) {
    if (old[i] === tag) i++; // the tag and the key line under it are replaced
    else kept.push(old[i]!);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${[...kept, tag, keyLine].join('\n')}\n`, { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
}

/** mergeTrustedCaFile, with a file that cannot be written said as the operator's to fix (sudo, or another --ca-file). */
function writeCaFile(file: string, appId: string, keyLine: string): void {
  try {
    mergeTrustedCaFile(file, appId, keyLine);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT' || code === 'ENOTDIR') {
      throw new IdentityInputError(`--ca-file ${file} cannot be written (${code}): run as a user who may write it (sudo), or give another --ca-file`);
    }
    throw error;
  }
}

/** Identity providers, certificate policy and the sshd side; offline on the data dir (sshd-config --server excepted). */
export function registerSshAdminCommands(program: Command, run: Run, client: { runClient: RunClient; streams: Streams }): void {
  const idp = program.command('idp').description('manage identity providers (whose JWTs name people)');
  verb(idp, 'create', ['add'], (c) => c.description('trust an identity provider\'s tokens for an account; a --jwks-url is fetched once first, and refused when it holds no usable key')
    .requiredOption('--account <id>', 'account id')
    .option('--issuer <url>', 'the tokens\' iss claim (https; http only on loopback); required unless --trial')
    .option('--trial', 'the trial provider instead: access-ca signs its tokens itself (access-ca login --trial), so a first try needs no outside IdP; for evaluation only (serve --no-trial-idp refuses it)')
    .option('--jwks-url <url>', 'where the provider publishes its signing keys')
    .option('--jwks-file <file>', 'a JWKS file, for keys configured by hand')
    .option('--audience <aud>', 'an extra audience its tokens may carry, repeatable', collect)
    .option('--client-id <id>', 'the public OIDC client people sign in with (access-ca login)')
    .option('--client-secret-file <file>', 'a file holding the client secret, for providers that insist on one (stored sealed)')
    .option('--scope <scope>', 'a sign-in scope, repeatable (default: openid email profile)', collect)
    .option('--email-claim <claim>', 'the claim that carries the email (default: email)')
    .option('--email-domain <domain>', 'an email domain this provider speaks for, repeatable (default: any); other emails are refused', collect)
    .option('--email-verified-optional', 'take emails without email_verified: true (only when the provider\'s email claim is authoritative)')
    .option('--max-token-lifetime <duration>', 'longest lifetime (exp − iat) and age of a token, e.g. 1h (default 24h)')
    .option('--name <name>', 'a label', 'identity provider')
    .option('--json', 'print JSON')
    .action((o, cmd: Command) => run(o.json, async ({ idps, identity }, out) => {
      await identity.resolveScope(o.account);
      if (o.trial) {
        const given = cmd.options.filter((f) => f.attributeName() !== 'account' && f.attributeName() !== 'trial' && f.attributeName() !== 'json' && cmd.getOptionValueSource(f.attributeName()) === 'cli');
        if (given.length > 0) throw new IdentityInputError(`--trial makes a provider access-ca configures itself: leave out ${given.map((f) => f.long).join(', ')}`);
        const trial = await idps.createTrial(o.account, CLI_ACTOR).catch((error: unknown) => {
          if (error instanceof ApiError && error.code === 12132) throw new IdentityInputError(`account ${o.account} has a trial identity provider already: access-ca idp list --account ${o.account}`);
          throw error;
        });
        out.result(trial, [
          `trial identity provider ${trial.id} created in account ${o.account}: for evaluation only.`,
          'access-ca login --trial --email <email> --hostname <host> signs a person in with it, on this machine\'s data directory;',
          'anyone who can read the data directory can do the same for any email. Production servers run serve --no-trial-idp.',
        ].join('\n'));
        return;
      }
      if (o.issuer === undefined) throw new IdentityInputError('--issuer is required (or --trial, for the trial provider)');
      const jwks = o.jwksFile ? readJsonFile(o.jwksFile, '--jwks-file') : undefined;
      // A secret comes from a file, never the command line, where other users of the machine can read it.
      const clientSecret = o.clientSecretFile ? readFlagFile(o.clientSecretFile, '--client-secret-file').trim() : undefined;
      const config = Object.fromEntries(Object.entries({
        issuer: o.issuer, jwks_url: o.jwksUrl, jwks, audiences: o.audience, client_id: o.clientId, client_secret: clientSecret, scopes: o.scope, email_claim: o.emailClaim,
        email_domains: o.emailDomain, email_verified_required: o.emailVerifiedOptional ? false : undefined, max_token_lifetime: o.maxTokenLifetime,
      }).filter(([, v]) => v !== undefined));
      const input = checkedInput(IdpInput, { name: o.name, config });
      if (o.jwksUrl) out.info(`fetching the key set at ${o.jwksUrl} …`);
      let found = '';
      const created = await asInput(idps.create(o.account, input, CLI_ACTOR, ({ keys }) => (found = ` (${keys} usable key${keys === 1 ? '' : 's'} found at its JWKS URL)`)))
        .catch((error: Error) => {
          // The fetch's own reason, and what else the operator can do.
          if (o.jwksUrl && error.message.endsWith('(/config/jwks_url)')) {
            throw new IdentityInputError(`--jwks-url ${o.jwksUrl}: ${error.message}. Check the URL, or give the keys by hand with --jwks-file`);
          }
          throw error;
        });
      out.result(created, `identity provider ${created.id} created: tokens from ${created.config.issuer} are trusted in account ${o.account}${found}`);
    })));
  idp.command('list').description('list an account\'s identity providers').requiredOption('--account <id>', 'account id').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ idps, identity }, out) => {
      await identity.resolveScope(o.account);
      const { items } = await idps.list(o.account, pageRequest({ per_page: '1000' }));
      out.result({ identity_providers: items }, table(items.map((i) => ({ id: i.id, name: i.name, issuer: i.config.issuer, keys: i.config.jwks_url ?? 'inline JWKS' })), ['id', 'name', 'issuer', 'keys']));
    }));
  const noIdp = (id: string, account: string) => `no identity provider ${id} in account ${account}: list them with access-ca idp list --account ${account}`;
  idp.command('get').description('show one identity provider').argument('<id>', 'provider id').requiredOption('--account <id>', 'account id').option('--json', 'print JSON')
    .action((id: string, o) => run(o.json, async ({ idps, identity }, out) => {
      await identity.resolveScope(o.account);
      const got = await asInput(idps.get(o.account, id), { notFound: noIdp(id, o.account) });
      out.result(got, JSON.stringify(got, null, 2));
    }));
  verb(idp, 'delete', ['remove'], (c) => c.description('stop trusting an identity provider').argument('<id>', 'provider id').requiredOption('--account <id>', 'account id').option('--json', 'print JSON')
    .action((id: string, o) => run(o.json, async ({ idps, identity }, out) => {
      await identity.resolveScope(o.account);
      const r = await asInput(idps.delete(o.account, id, CLI_ACTOR), { notFound: noIdp(id, o.account) });
      out.result(r, `identity provider ${r.id} deleted`);
    })));

  const app = program.commands.find((c) => c.name() === 'app')!;
  app.command('policy').description('show an app\'s certificate policy, or replace it with --set FILE')
    .requiredOption('--account <id>', 'account id').option('--zone <id>', 'the app is zone-level')
    .requiredOption('--app <id>', 'application id')
    .option('--set <file>', 'a JSON policy: ttl, max_ttl, backdate, principals, extensions, critical_options, key_types')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async (s, out) => {
      const { app } = await requireApp(s, o);
      if (o.set) {
        const label = `--set ${o.set}`;
        const input = checkedDocument(CertPolicyInput, readJsonFile(o.set, '--set'), label);
        ttlWithinMax(input, label);
        const policy = await asInput(Promise.resolve().then(() => normalizePolicy(input))).catch((error: Error) => {
          throw new IdentityInputError(`${label}: ${error.message}`);
        });
        await s.policies.put(app.id, policy, systemClock.now().toISOString());
      }
      const { policies } = s;
      const view = policyView(await policies.get(app.id));
      out.result(view, JSON.stringify(view, null, 2));
    }));

  program.command('sshd-config').description('write an app\'s CA key (TrustedUserCAKeys) and KRL (RevokedKeys) for sshd and print the lines sshd_config lacks, refusing when sshd already uses other files; with --server, fetch the CA keys and KRL once from the API instead of the data dir')
    .requiredOption('--account <id>', 'account id').option('--zone <id>', 'the app is zone-level')
    .requiredOption('--app <id>', 'application id')
    .option('--ca-file <path>', 'the TrustedUserCAKeys file to update (other keys in it are kept)', '/etc/ssh/access-ca.pub')
    .option('--krl-file <path>', 'the RevokedKeys file to write: this app\'s revocations, beside those of the other CAs in --ca-file', '/etc/ssh/access-ca.krl')
    .option('--sshd <path>', 'the sshd whose settings (sshd -T) are checked for another TrustedUserCAKeys or RevokedKeys file', '/usr/sbin/sshd')
    .option('--no-sshd-check', 'do not ask sshd which files it uses (a config prepared for another machine)')
    .option('--server <url>', 'fetch from this access-ca server (its origin) instead of opening the data dir, as sshd-sync --once does')
    .option('--token-file <file>', 'with --server: an API token with "Access: Apps and Policies Read" (mode 0600 or stricter)')
    .option('--dir <dir>', `with --server: where to write ${TRUST_FILE} and ${KRL_FILE}`)
    .option('--json', 'print JSON')
    .action((o, cmd: Command) => (o.server !== undefined || o.tokenFile !== undefined || o.dir !== undefined
      // The server mode never opens a store: a host needs only the URL and a read token.
      ? client.runClient(o.json, (out) => sshdConfigFromServer(o, cmd.getOptionValueSource('caFile') === 'cli', out, client.streams))
      : run(o.json, async (s, out) => {
      const { scope, app } = await requireApp(s, o);
      const ca = await asInput(s.cas.get(scope, app.id), { notFound: noCa(o) });
      const file = resolve(o.caFile);
      const krlFile = resolve(o.krlFile);
      if (file === krlFile) throw new IdentityInputError('--ca-file and --krl-file must be two files');
      // sshd reads one file of each: lines for a second one would be ignored, and people locked out or let in.
      const sshd = o.sshdCheck === false ? { unknown: '--no-sshd-check' } : readSshdTrust(o.sshd);
      if ('unknown' in sshd) {
        if (o.sshdCheck !== false) throw new IdentityInputError(`cannot tell which CA and KRL files sshd already uses (${sshd.unknown}): run it as root on the SSH server, or add --no-sshd-check for a config meant for another machine`);
        out.info('not checked against sshd (--no-sshd-check): make sure sshd_config names no other TrustedUserCAKeys or RevokedKeys file');
      } else {
        const conflict = conflictWithSshd(sshd, file, krlFile);
        if (conflict) throw new IdentityInputError(conflict);
      }
      writeCaFile(file, app.id, ca.public_key);
      const krl = await s.revocations.krl(scope, app.id);
      try {
        mergeKrlFile(krlFile, krl.bytes, ca.public_key.split(' ')[1] ?? '', caFileBlobs(file), `access-ca KRL for the CAs in ${file}`);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new IdentityInputError(code ? `--krl-file ${krlFile} cannot be written (${code}): run as a user who may write it (sudo), or give another --krl-file` : (error as Error).message);
      }
      // Lines sshd already has are not printed again: `| tee -a sshd_config` twice must not add them twice.
      const has = (setting: string | null | undefined, path: string) => typeof setting === 'string' && resolve(setting) === path;
      const settings = [`TrustedUserCAKeys ${file}`, `RevokedKeys ${krlFile}`];
      const fresh = settings.filter((l) => 'unknown' in sshd || !(l.startsWith('Trusted') ? has(sshd.trustedUserCaKeys, file) : has(sshd.revokedKeys, krlFile)));
      const lines = [
        `# access-ca: certificates for "${app.name}" (${app.id}); ${fresh.length === 0 ? 'sshd already uses these files: reload it' : 'add to /etc/ssh/sshd_config and reload sshd'}`,
        ...fresh,
        '# The KRL is as of now: run this again after a revocation, or let sshd-sync keep it current (docs/hosts.md).',
        '# Principals are the email\'s local part by default. When Unix names differ, map them:',
        '#   AuthorizedPrincipalsFile /etc/ssh/auth_principals/%u',
      ];
      out.info(`wrote the CA key of "${app.name}" into ${file} and its revocations (KRL version ${krl.version}) into ${krlFile}`);
      out.result({ ca_file: file, krl_file: krlFile, public_key: ca.public_key, sshd_config: settings }, lines.join('\n'), fresh.join('\n'));
    })));
}
