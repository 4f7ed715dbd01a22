import type { Command } from 'commander';
import { pageRequest } from '../platform/http/pagination.ts';
import { canonicalEmail } from '../platform/text.ts';
import { parseSelector } from '../ssh-certs/revocation-service.ts';
import { table } from './output.ts';
import { CliInputError } from './cli-config.ts';
import { asInput, scopeFlags, type Run } from './cli-services.ts';

/** A 404 from show or revoke: the certificate (or, without an id, the app) is not there, and how to look. */
const noCertificate = (id: string | undefined, o: { account: string; zone?: string; app: string }) =>
  `${id ? `no certificate ${id} of application ${o.app}` : `no application ${o.app}`} in this scope: `
  + `\`access-ca cert list ${scopeFlags(o)} --app ${o.app}\` lists its certificates, \`access-ca app list ${scopeFlags(o)}\` the applications`;

const STATUSES = ['valid', 'expired', 'revoked'];

/** `cert list|show|revoke`: the inventory of an app's certificates and their revocation, offline on the data dir. */
export function registerCertCommands(program: Command, run: Run): void {
  const cert = program.command('cert').description('issued certificates: list, show, revoke; revocations and lifting a principal\'s');
  const scoped = (c: Command) => c.requiredOption('--account <id>', 'account id').option('--zone <id>', 'the app is zone-level').requiredOption('--app <id>', 'application id').option('--json', 'print JSON');

  scoped(cert.command('list').description('list an app\'s certificates, newest first'))
    .option('--principal <name>', 'certificates naming this principal')
    .option('--identity <email>', 'certificates of this person (or token:<id>)')
    .option('--key-id <id>', 'the certificate\'s key id')
    .option('--fingerprint <SHA256:…>', 'certificates of this user key')
    .option('--status <status>', `one of ${STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many (default 100, max 1000)', '100')
    .action((o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      if (o.status !== undefined && !STATUSES.includes(o.status)) throw new CliInputError(`--status must be one of ${STATUSES.join(', ')}`);
      const { items, info } = await asInput(revocations.list(scope, o.app, {
        principal: o.principal, identity: o.identity === undefined ? undefined : canonicalEmail(o.identity), keyId: o.keyId, fingerprint: o.fingerprint, status: o.status,
      }, pageRequest({ per_page: o.limit })), { notFound: `no application ${o.app} in this scope: \`access-ca app list ${scopeFlags(o)}\` lists them` });
      out.result({ certificates: items, total: info.total_count },
        table(items.map((c) => ({ id: c.id, serial: c.serial, identity: c.identity, principals: c.principals, valid_before: c.valid_before, status: c.status })), ['id', 'serial', 'identity', 'principals', 'valid_before', 'status']));
    }));

  scoped(cert.command('show').description('one certificate, with its revocation').argument('<id>', 'certificate id'))
    .action((id: string, o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const c = await asInput(revocations.get(scope, o.app, id), { notFound: noCertificate(id, o) });
      out.result(c, JSON.stringify(c, null, 2));
    }));

  scoped(cert.command('revoke').description('revoke one certificate, or in bulk: a person or a user key in every application of the account (and what comes next: a person\'s earlier sign-ins, the key for good), a principal until lifted, a key id family').argument('[id]', 'certificate id'))
    .requiredOption('--reason <text>', 'why: kept with the revocation and in the audit trail')
    .option('--identity <email>', 'this person: their certificates in every application of the account, and every sign-in before now (they sign in again)')
    .option('--principal <name>', 'this principal: its certificates, and new ones naming it until `cert lift`')
    .option('--key-id <id>', 'a key id family: label=<label> (every certificate issued with it), an identity (alice@example.com, token:<id>), or one whole key id')
    .option('--fingerprint <SHA256:…>', 'this user key: its certificates in every application of the account, past and future')
    .action((id: string | undefined, o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const others = [o.identity, o.principal, o.keyId, o.fingerprint].filter((v) => v !== undefined).length;
      if (id !== undefined && others > 0) throw new CliInputError('give a certificate id, or one of --identity, --principal, --key-id and --fingerprint, not both');
      const selector = id !== undefined ? { kind: 'certificate' as const, value: id.toLowerCase() }
        : await asInput(Promise.resolve().then(() => parseSelector({ identity: o.identity, principal: o.principal, key_id: o.keyId, public_key_fingerprint: o.fingerprint })));
      const r = await asInput(revocations.revoke(scope, o.app, selector, o.reason, 'cli'), { notFound: noCertificate(id, o) });
      out.result(r, `revoked ${r.certificates} certificate(s) by ${r.kind}${r.app_id === null ? ' in every application of the account' : ''} (revocation ${r.id})${BLOCKS[r.blocks] ?? ''}`);
    }));

  scoped(cert.command('revoke-tokens').description('every person of the application signs in again: their certificates are revoked, earlier identity tokens refused (Cloudflare\'s revoke_tokens)'))
    .action((o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const r = await asInput(revocations.revokeTokens(scope, o.app, 'cli'), { notFound: noCertificate(undefined, o) });
      out.result(r, `revoked ${r.certificates} certificate(s) of people of application ${o.app} (revocation ${r.id})${BLOCKS[r.blocks] ?? ''}`);
    }));

  scoped(cert.command('revocations').description('the revocations that reach an application (its own and the account\'s), newest first'))
    .option('--limit <n>', 'at most this many (default 100, max 1000)', '100')
    .action((o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const { items, info } = await asInput(revocations.listRevocations(scope, o.app, pageRequest({ per_page: o.limit })), { notFound: noCertificate(undefined, o) });
      out.result({ revocations: items, total: info.total_count },
        table(items.map((r) => ({ id: r.id, kind: r.kind, value: r.value, scope: r.app_id === null ? 'account' : 'app', blocks: r.blocks, certificates: r.certificates, actor: r.actor, created_at: r.created_at })),
          ['id', 'kind', 'value', 'scope', 'blocks', 'certificates', 'actor', 'created_at']));
    }));

  scoped(cert.command('lift').description('lift a principal\'s revocation: it may be certified again (its revoked certificates stay in the KRL)').argument('<revocation-id>', 'the id `cert revoke --principal` printed'))
    .action((id: string, o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const r = await asInput(revocations.lift(scope, o.app, id, 'cli'), {
        notFound: `no revocation ${id} reaches application ${o.app}: \`access-ca cert revocations ${scopeFlags(o)} --app ${o.app}\` lists them`,
      });
      out.result(r, `lifted revocation ${r.id}: principal ${r.value} may be certified again`);
    }));

  program.command('revoke-user').description('revoke a person in every application of the account: their certificates, and every sign-in before now (Cloudflare\'s revoke_user); a permanent ban is an Access policy exclude')
    .argument('<email>', 'the person\'s email').requiredOption('--account <id>', 'account id').option('--reason <text>', 'why: kept with the revocation and in the audit trail', 'revoke_user').option('--json', 'print JSON')
    .action((email: string, o) => run(o.json, async ({ identity, revocations }, out) => {
      const scope = await identity.resolveScope(o.account, undefined);
      const r = await asInput(revocations.revokeUser(scope, email, 'cli', o.reason));
      out.result(r, `revoked ${r.certificates} certificate(s) of ${r.value} in every application of the account (revocation ${r.id}); sign-ins before now are refused`);
    }));
}

/** What a revocation goes on refusing, for the person at the terminal. */
const BLOCKS: Record<string, string> = {
  earlier_sign_ins: '; identity tokens issued before now are refused: a fresh sign-in is needed',
  new_certificates: '; no new certificate is issued for it',
};
