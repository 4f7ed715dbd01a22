import type { Command } from 'commander';
import { MAX_PER_PAGE } from '../platform/http/pagination.ts';
import { IdentityInputError } from '../identity/identity-service.ts';
import { listAuditEvents } from '../audit/audit-log.ts';
import { AuditQuery } from '../audit/audit-routes.ts';
import { table } from './output.ts';
import { checkedInput, type Run } from './cli-services.ts';

function limitOf(value: string | undefined): number {
  if (value === undefined) return 100;
  const n = /^[0-9]{1,4}$/.test(value) ? Number(value) : 0;
  if (n < 1 || n > MAX_PER_PAGE) throw new IdentityInputError(`--limit must be a whole number from 1 to ${MAX_PER_PAGE}`);
  return n;
}

/** `audit list`: an account's audit trail, newest first, read offline from the data dir. */
export function registerAuditCommands(program: Command, run: Run): void {
  const audit = program.command('audit').description('read the audit trail: admin changes and certificate decisions');
  audit.command('list').description('list an account\'s audit events, newest first')
    .requiredOption('--account <id>', 'account id')
    .option('--type <type>', 'only events of this type, e.g. api_token.created, access_policy.updated')
    .option('--subject <id>', 'only events about this object id')
    .option('--limit <n>', 'how many events, 1–1000 (default 100)')
    .option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity, audit: log }, out) => {
      await identity.resolveScope(o.account);
      const filter = checkedInput(AuditQuery, { type: o.type, subject: o.subject });
      const { items, info } = await listAuditEvents(log, o.account, filter, { page: 1, perPage: limitOf(o.limit) });
      const rows = items.map((e) => ({ ...e, data: JSON.stringify(e.data) }));
      const more = info.total_count > items.length ? `\n(${items.length} of ${info.total_count}; --limit shows more)` : '';
      out.result({ events: items, total: info.total_count }, `${table(rows, ['created_at', 'type', 'actor', 'subject', 'data'])}${more}`);
    }));
}
