import type { Command } from 'commander';
import { pageRequest } from '../platform/http/pagination.ts';
import { PERMISSION_GROUPS } from '../identity/permission-groups.ts';
import { AppInput } from '../access-apps/access-apps-schemas.ts';
import { table } from './output.ts';
import { asInput, checkedInput, collect, requireApp, verb, type Run } from './cli-services.ts';

/** Registers account, zone, token, user and app verbs; each works offline on the data dir, and its changes are audited as `cli`. */
export function registerAdminCommands(program: Command, run: Run): void {
  const account = program.command('account').description('manage accounts');
  account.command('create').description('create an account').requiredOption('--name <name>', 'account name').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const a = await identity.createAccount(o.name);
      out.result(a, `account ${a.id} (${a.name}) created`);
      if ((await identity.listAccounts()).length === 2) {
        out.info('note: with several accounts, a new application\'s host must be in a zone of its account; delegate hosts with `access-ca zone create --account <id> --name <dns name>`');
      }
    }));
  account.command('list').description('list accounts').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const accounts = await identity.listAccounts();
      out.result({ accounts }, table(accounts, ['id', 'name', 'created_at']));
    }));

  const zone = program.command('zone').description('manage zones (DNS names under an account)');
  zone.command('create').description('delegate a DNS name to an account: hosts under it can be held only by that account\'s applications').requiredOption('--account <id>', 'account id').requiredOption('--name <dns name>', 'e.g. example.com').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const z = await identity.createZone(o.account, o.name);
      out.result(z, `zone ${z.id} (${z.name}) created in account ${z.account_id}`);
    }));
  verb(zone, 'delete', [], (c) => c.description('withdraw a zone from its account: refused while applications, tokens, policies or groups live in it; the account\'s applications keep the hosts they hold')
    .requiredOption('--account <id>', 'account id').requiredOption('--zone <id>', 'zone id').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const z = await identity.deleteZone(o.account, o.zone);
      out.result(z, `zone ${z.id} (${z.name}) deleted from account ${z.account_id}`);
    })));
  zone.command('list').description('list the zones of an account').requiredOption('--account <id>', 'account id').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const zones = await identity.listZones(o.account);
      out.result({ zones }, table(zones, ['id', 'name', 'created_at']));
    }));

  const token = program.command('token').description('manage API tokens');
  token.command('create').description('create an API token; its value is printed once and only its hash is stored')
    .requiredOption('--account <id>', 'account id')
    .option('--zone <id>', 'limit the token to one zone of the account')
    .option('--permission <group>', `permission group, repeatable: ${PERMISSION_GROUPS.map((p) => `"${p}"`).join(', ')}`, collect, [])
    .option('--name <name>', 'a label for the token')
    .option('--not-before <time>', 'RFC 3339 time before which the token is not valid')
    .option('--expires-on <time>', 'RFC 3339 time at which the token stops working')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const t = await identity.createToken({
        accountId: o.account, zoneId: o.zone, permissions: o.permission, name: o.name, notBefore: o.notBefore, expiresOn: o.expiresOn,
      });
      out.result(t, `token ${t.id} created. Its value is shown only this once:\n${t.value}`, t.value);
    }));
  token.command('list').description('list API tokens (never their values)').option('--account <id>', 'only this account').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const tokens = await identity.listTokens(o.account);
      out.result({ tokens }, table(tokens as unknown as Record<string, unknown>[], ['id', 'name', 'account_id', 'zone_id', 'status', 'expires_on', 'permissions']));
    }));
  token.command('revoke').description('disable an API token at once').argument('<id>', 'token id').option('--json', 'print JSON')
    .action((id: string, o) => run(o.json, async ({ identity }, out) => {
      const r = await identity.revokeToken(id);
      out.result(r, `token ${r.id} revoked`);
    }));

  const user = program.command('user').description('manage users (X-Auth-Email / X-Auth-Key)');
  user.command('create').description('create a user with a global API key, printed once').requiredOption('--email <email>', 'the user\'s email').requiredOption('--account <id>', 'account the user belongs to').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const u = await identity.createUser(o.email, o.account);
      out.result(u, `user ${u.id} (${u.email}) created. Global API key, shown only this once:\n${u.api_key}`, u.api_key);
    }));
  user.command('rotate-key').description('give a user a new global API key, printed once; the old one stops working at once, on every node')
    .requiredOption('--email <email>', 'the user\'s email').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const u = await identity.rotateUserKey(o.email);
      out.result(u, `user ${u.id} (${u.email}): the old key no longer works. New global API key, shown only this once:\n${u.api_key}`, u.api_key);
    }));
  verb(user, 'delete', ['remove'], (c) => c.description('delete a user; its global API key stops working at once, on every node')
    .requiredOption('--email <email>', 'the user\'s email').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const u = await identity.removeUser(o.email);
      out.result(u, `user ${u.id} (${u.email}) deleted`);
    })));
  user.command('list').description('list users (never their keys)').option('--account <id>', 'only members of this account').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity }, out) => {
      const users = await identity.listUsers(o.account);
      out.result({ users }, table(users.map((u) => ({ ...u, accounts: u.account_ids })), ['id', 'email', 'accounts', 'created_at']));
    }));

  const app = program.command('app').description('manage Access applications');
  app.command('create').description('create an Access application')
    .requiredOption('--account <id>', 'account id').option('--zone <id>', 'create it at zone level')
    .requiredOption('--name <name>', 'application name').option('--domain <domain>', 'its domain (required for self_hosted)')
    .option('--type <type>', 'self_hosted (default), ssh or infrastructure').option('--session-duration <duration>', 'Go duration, default 24h')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity, apps }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const input = checkedInput(AppInput, { name: o.name, domain: o.domain, type: o.type, session_duration: o.sessionDuration });
      const a = await asInput(apps.create(scope, input));
      out.result(a, `application ${a.id} (${a.name}) created; aud ${a.aud}`);
    }));
  app.command('list').description('list the Access applications of an account (or of one zone)')
    .requiredOption('--account <id>', 'account id').option('--zone <id>', 'list zone-level applications of this zone').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity, apps }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const all = [];
      for (let page = 1; ; page++) {
        const { items } = await apps.list(scope, pageRequest({ page: String(page), per_page: '1000' }));
        all.push(...items);
        if (items.length < 1000) break;
      }
      out.result({ apps: all }, table(all, ['id', 'name', 'type', 'domain', 'aud']));
    }));
}

/** `app get|update|delete`: one application, by the same pattern as every other object. */
export function registerAppObjectCommands(program: Command, run: Run): void {
  const app = program.commands.find((c) => c.name() === 'app')!;
  const oneApp = (c: Command) => c.requiredOption('--account <id>', 'account id').option('--zone <id>', 'the app is zone-level')
    .requiredOption('--app <id>', 'application id').option('--json', 'print JSON');
  oneApp(app.command('get').description('show an Access application, with its aud tag (the value a token\'s aud must hold)'))
    .action((o) => run(o.json, async (s, out) => {
      const { app: a } = await requireApp(s, o);
      out.result(a, `application ${a.id} (${a.name}): type ${a.type}, domain ${a.domain ?? '-'}, aud ${a.aud}`);
    }));
  oneApp(app.command('update').description('change an Access application\'s name, domain, type or session duration (what is not given stays)'))
    .option('--name <name>', 'application name').option('--domain <domain>', 'its domain')
    .option('--type <type>', 'self_hosted, ssh or infrastructure').option('--session-duration <duration>', 'Go duration, e.g. 24h')
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app: current } = await requireApp(s, o);
      const input = checkedInput(AppInput, {
        name: o.name ?? current.name, domain: o.domain ?? current.domain, type: o.type ?? current.type, session_duration: o.sessionDuration ?? current.session_duration,
      });
      const a = await asInput(s.apps.update(scope, current.id, input));
      out.result(a, `application ${a.id} (${a.name}) updated`);
    }));
  oneApp(app.command('delete').description('delete an Access application, as DELETE …/access/apps/{app_id} does'))
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app: current } = await requireApp(s, o);
      const gone = await asInput(s.apps.delete(scope, current.id));
      out.result(gone, `application ${gone.id} (${current.name}) deleted`);
    }));
}
