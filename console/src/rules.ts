/** An Access rule as the API returns it: one key naming its kind. */
export type Rule = Record<string, Record<string, string>>;

/** The rule kinds the console's forms make, with the field each one takes. */
export const RULE_KINDS = [
  { value: 'everyone', label: 'Everyone the identity providers vouch for', field: '' },
  { value: 'email', label: 'Emails', field: 'email' },
  { value: 'email_domain', label: 'Email domains', field: 'domain' },
  { value: 'group', label: 'Access group', field: 'id' },
  { value: 'ip', label: 'IP ranges (CIDR)', field: 'ip' },
] as const;

/** The include rules for a kind and a list of values (one rule per value; `everyone` takes none). */
export function rulesOf(kind: string, values: string[]): Rule[] {
  const spec = RULE_KINDS.find((k) => k.value === kind);
  if (!spec || spec.field === '') return [{ everyone: {} }];
  return values.map((v) => ({ [kind]: { [spec.field]: v } }));
}

/** A rule as one line of text, e.g. `email_domain: example.com`. */
export function ruleText(rule: Rule): string {
  const [kind, body] = Object.entries(rule)[0] ?? ['?', {}];
  const values = Object.entries(body ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
  return values ? `${kind}: ${values}` : kind;
}
