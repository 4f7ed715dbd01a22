import { errors } from '../platform/http/errors.ts';
import { parseCidr, type Cidr } from '../platform/cidr.ts';
import { asciiLower, canonicalEmail } from '../platform/text.ts';

/**
 * Access rules in Cloudflare's JSON shapes (`{"email_domain": {"domain": "example.com"}}`), checked and
 * turned into a typed form. Only the rule types that can be decided from a verified identity token and
 * the client address are taken; any other type is refused at write time, by name, so that a rule an
 * operator believes is enforced is never silently ignored.
 */
export type Rule =
  | { kind: 'email'; email: string }
  | { kind: 'email_domain'; domain: string }
  | { kind: 'everyone' }
  | { kind: 'group'; id: string }
  | { kind: 'login_method'; id: string }
  | { kind: 'oidc'; claimName: string; claimValue: string; idpId: string }
  | { kind: 'ip'; cidr: string };

export const RULE_TYPES = ['email', 'email_domain', 'everyone', 'group', 'login_method', 'oidc', 'ip'] as const;

/** Rules a policy or group may hold in each of its lists. */
export const MAX_RULES = 100;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL = /^[^@\s\p{C}]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/u;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
/** Printable text without controls; claim names and values are compared as they are. */
const CLAIM_TEXT = /^[^\p{Cc}\p{Cs}]{1,256}$/u;

type Fields = Record<string, unknown>;

function fieldsOf(value: unknown, pointer: string, names: string[]): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw errors.invalidRequest('must be an object', pointer);
  const fields = value as Fields;
  for (const key of Object.keys(fields)) {
    if (!names.includes(key)) throw errors.invalidRequest('unknown field', `${pointer}/${key}`);
  }
  return fields;
}

function text(fields: Fields, name: string, pointer: string, pattern: RegExp, what: string): string {
  const value = fields[name];
  if (typeof value !== 'string' || !pattern.test(value)) throw errors.invalidRequest(`must be ${what}`, `${pointer}/${name}`);
  return value;
}

/** One rule object, which has exactly one key: its type. */
export function parseRule(value: unknown, pointer: string): Rule {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw errors.invalidRequest('a rule is an object such as {"email": {"email": "a@example.com"}}', pointer);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw errors.invalidRequest('a rule has exactly one rule type', pointer);
  const type = keys[0]!;
  const at = `${pointer}/${type}`;
  const body = (value as Fields)[type];
  switch (type) {
    case 'email': {
      const email = text(fieldsOf(body, at, ['email']), 'email', at, EMAIL, 'an email address');
      if (email.length > 320) throw errors.invalidRequest('must be an email address of at most 320 characters', `${at}/email`);
      return { kind: 'email', email: canonicalEmail(email) };
    }
    case 'email_domain':
      return { kind: 'email_domain', domain: asciiLower(text(fieldsOf(body, at, ['domain']), 'domain', at, DOMAIN, 'a domain such as example.com')) };
    case 'everyone':
      fieldsOf(body, at, []);
      return { kind: 'everyone' };
    case 'group':
      return { kind: 'group', id: text(fieldsOf(body, at, ['id']), 'id', at, UUID, 'an Access group id').toLowerCase() };
    case 'login_method':
      return { kind: 'login_method', id: text(fieldsOf(body, at, ['id']), 'id', at, UUID, 'an identity provider id').toLowerCase() };
    case 'oidc': {
      const f = fieldsOf(body, at, ['claim_name', 'claim_value', 'identity_provider_id']);
      return {
        kind: 'oidc',
        claimName: text(f, 'claim_name', at, CLAIM_TEXT, 'a claim name'),
        claimValue: text(f, 'claim_value', at, CLAIM_TEXT, 'the claim value to match'),
        idpId: text(f, 'identity_provider_id', at, UUID, 'an identity provider id').toLowerCase(),
      };
    }
    case 'ip': {
      const raw = text(fieldsOf(body, at, ['ip']), 'ip', at, /^[0-9a-fA-F.:/]{2,49}$/, 'an address or block such as 10.0.0.0/8');
      const cidr = parseCidr(raw);
      if (!cidr) throw errors.invalidRequest('must be an address or block such as 10.0.0.0/8 (host bits zero)', `${at}/ip`);
      return { kind: 'ip', cidr: ipv4OfMapped(cidr) ?? cidr.text };
    }
    default:
      throw errors.invalidRequest(
        `rule type ${JSON.stringify(type.slice(0, 64))} is not supported for SSH certificates (supported: ${RULE_TYPES.join(', ')})`,
        pointer,
      );
  }
}

/**
 * A block inside ::ffff:0:0/96 is an IPv4 block written the IPv6 way: it is kept as IPv4, the form
 * client addresses are compared in. A shorter prefix reaches outside the mapped range and stays IPv6.
 */
function ipv4OfMapped(cidr: Cidr): string | null {
  if (cidr.family !== 6 || cidr.prefix < 96 || cidr.network >> 32n !== 0xffffn) return null;
  const n = Number(cidr.network & 0xffffffffn);
  return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')}/${cidr.prefix - 96}`;
}

/** A list of rules (`include`, `exclude`, `require`); absent is empty. */
export function parseRules(value: unknown, pointer: string): Rule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw errors.invalidRequest('must be a list of rules', pointer);
  if (value.length > MAX_RULES) throw errors.invalidRequest(`at most ${MAX_RULES} rules`, pointer);
  // The same rule twice says nothing more; kept once, so a list costs its distinct rules only.
  const seen = new Set<string>();
  return value.map((rule, i) => parseRule(rule, `${pointer}/${i}`)).filter((rule) => {
    const key = JSON.stringify(ruleView(rule));
    return !seen.has(key) && seen.add(key);
  });
}

/** The wire form of a rule, as Cloudflare returns it. */
export function ruleView(rule: Rule): Record<string, Record<string, string>> {
  switch (rule.kind) {
    case 'email': return { email: { email: rule.email } };
    case 'email_domain': return { email_domain: { domain: rule.domain } };
    case 'everyone': return { everyone: {} };
    case 'group': return { group: { id: rule.id } };
    case 'login_method': return { login_method: { id: rule.id } };
    case 'oidc': return { oidc: { claim_name: rule.claimName, claim_value: rule.claimValue, identity_provider_id: rule.idpId } };
    case 'ip': return { ip: { ip: rule.cidr } };
    default: {
      const unreachable: never = rule;
      return unreachable;
    }
  }
}

/** Rules as stored: the wire form, which `parseRules` reads back. */
export const rulesJson = (rules: Rule[]): string => JSON.stringify(rules.map(ruleView));

/** Reads stored rules; a stored list is trusted to have been checked when it was written. */
export const rulesFromJson = (json: string): Rule[] => parseRules(JSON.parse(json), '');

/** The ids a list of rules points at, by kind, for write-time reference checks. */
export function referencedIds(rules: Rule[]): { groups: string[]; idps: string[] } {
  const groups = new Set<string>();
  const idps = new Set<string>();
  for (const r of rules) {
    if (r.kind === 'group') groups.add(r.id);
    if (r.kind === 'login_method' || r.kind === 'oidc') idps.add(r.kind === 'oidc' ? r.idpId : r.id);
  }
  return { groups: [...groups], idps: [...idps] };
}
