import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { IdentityInputError } from '../identity/identity-service.ts';
import { checkAccess } from '../access-policies/access-decider.ts';
import { AccessCheckInput } from '../access-policies/access-policies-schemas.ts';
import { asInput, checkedInput, scopeFlags, type Run } from './cli-services.ts';

function readClaims(path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new IdentityInputError(`--claims ${path}: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new IdentityInputError(`--claims ${path}: expected a JSON object of claims`);
  return value as Record<string, unknown>;
}

/** `app check`: the operator's dry run of an application's Access policies; offline on the data dir. */
export function registerAccessCommands(program: Command, run: Run): void {
  const app = program.commands.find((c) => c.name() === 'app')!;
  app.command('check').description('would this person get a certificate? Prints the decision and the Access policy that made it')
    .requiredOption('--account <id>', 'account id').option('--zone <id>', 'the app is zone-level')
    .requiredOption('--app <id>', 'application id')
    .requiredOption('--email <email>', 'the person\'s email, as their identity provider would vouch for it')
    .option('--idp <id>', 'the identity provider they sign in with (for login_method and oidc rules)')
    .option('--claims <file>', 'a JSON file of their token\'s other claims (for oidc rules)')
    .option('--ip <address>', 'the address they connect from (for ip rules)')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity, appsStore, decider }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const input = checkedInput(AccessCheckInput, { email: o.email, identity_provider_id: o.idp, ip: o.ip, claims: o.claims ? readClaims(o.claims) : undefined });
      const r = await asInput(checkAccess({ apps: appsStore, decider }, scope, o.app, input), { notFound: `no application ${o.app} in this scope: \`access-ca app list ${scopeFlags(o)}\` lists them` });
      const by = r.policy ? ` by policy "${r.policy.name}" (${r.policy.id}, ${r.policy.decision})` : '';
      out.result(r, `${r.allowed ? 'ALLOWED' : 'REFUSED'}${by}: ${r.reason}`);
    }));
}
