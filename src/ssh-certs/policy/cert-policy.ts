import { errors } from '../../platform/http/errors.ts';
import { USER_KEY_TYPES, type UserKeyType } from '../../openssh/user-public-key.ts';
import { cidrContains, parseCidr } from '../../platform/cidr.ts';
import { formatGoDuration, parseGoDuration } from '../../platform/go-duration.ts';
import { globMatch } from './glob.ts';
import type { CertPolicyInput, CertPolicyView } from './cert-policy-schemas.ts';

export type PrincipalSource = 'email_local_part' | 'email' | 'claim';

/** An app's certificate policy, checked and in seconds. */
export interface CertPolicy {
  ttl: number;
  maxTtl: number;
  backdate: number;
  /** allow: names or patterns a principal must match (for people, only when non-empty); deny: never issued. */
  principals: { from: PrincipalSource; claim: string | null; allow: string[]; deny: string[] };
  extensions: string[];
  forceCommand: { allowed: string[]; default: string | null } | null;
  sourceAddress: { allowed: string[]; default: string[] | null } | null;
  keyTypes: UserKeyType[];
}

export const MAX_TTL_LIMIT = 30 * 24 * 3600;

/** Cloudflare's certificates: 3 minutes, the email's local part, agent forwarding, pty and user rc. */
export const DEFAULT_POLICY: CertPolicy = {
  ttl: 180,
  maxTtl: 3600,
  backdate: 30,
  principals: { from: 'email_local_part', claim: null, allow: [], deny: ['root'] },
  extensions: ['permit-agent-forwarding', 'permit-pty', 'permit-user-rc'],
  forceCommand: null,
  sourceAddress: null,
  keyTypes: [...USER_KEY_TYPES],
};

const STANDARD_EXTENSIONS = ['no-touch-required', 'permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc'];
const CUSTOM_EXTENSION = /^[a-zA-Z0-9_.-]{1,64}@[a-zA-Z0-9.-]{1,64}$/;
/** A principal sshd can compare: no separators, spaces or control characters. */
const PRINCIPAL = /^[A-Za-z0-9._@+_-]{1,256}$/;
const PATTERN = /^[A-Za-z0-9._@+_*?-]{1,256}$/;
const COMMAND = /^[^\p{C}]{1,1024}$/u;

const refuse = (detail: string) => errors.policyRefused(detail);
const invalid = (detail: string, pointer: string) => errors.invalidRequest(detail, pointer);

function seconds(value: string | undefined, fallback: number, pointer: string): number {
  if (value === undefined) return fallback;
  const s = parseGoDuration(value);
  if (s === null || !Number.isInteger(s)) throw invalid('must be a whole number of seconds as a Go duration, e.g. 3m', pointer);
  return s;
}

function cidrs(list: string[], pointer: string): string[] {
  return list.map((text, i) => {
    const c = parseCidr(text);
    if (!c) throw invalid(`${JSON.stringify(text)} is not an address block such as 10.0.0.0/8`, `${pointer}/${i}`);
    return c.text;
  });
}

/** True when `name` matches one of the patterns (names, or globs with `*` and `?`). */
export const matchesAny = (patterns: string[], name: string): boolean => patterns.some((p) => globMatch(p, name));

function patterns(list: string[] | undefined, pointer: string): string[] {
  (list ?? []).forEach((a, i) => {
    if (!PATTERN.test(a)) throw invalid('a principal pattern is a name or a pattern with * and ?', `${pointer}/${i}`);
  });
  return [...new Set(list ?? [])];
}

/**
 * Checks a policy sent by a client and fills in the defaults; throws 400 12130 with a pointer. A policy
 * read back from the store (`stored`) skips the checks added since it was written; `decide` fails closed
 * where such a policy leaves a choice open.
 */
export function normalizePolicy(input: CertPolicyInput, mode: 'write' | 'stored' = 'write'): CertPolicy {
  const ttl = seconds(input.ttl, DEFAULT_POLICY.ttl, '/ttl');
  // A ttl above the default max_ttl is refused unless max_ttl is raised too: never raised silently. (A
  // stored policy may predate that rule.)
  const maxTtl = seconds(input.max_ttl, mode === 'stored' ? Math.max(DEFAULT_POLICY.maxTtl, ttl) : DEFAULT_POLICY.maxTtl, '/max_ttl');
  const backdate = seconds(input.backdate, DEFAULT_POLICY.backdate, '/backdate');
  if (ttl < 1) throw invalid('must be at least 1s', '/ttl');
  if (maxTtl > MAX_TTL_LIMIT) throw invalid(`must be at most ${formatGoDuration(MAX_TTL_LIMIT)}`, '/max_ttl');
  if (ttl > maxTtl) throw invalid(`ttl must not exceed max_ttl (${formatGoDuration(maxTtl)}): set max_ttl as well to allow it`, '/ttl');
  if (backdate > 3600) throw invalid('must be at most 1h', '/backdate');

  const p = input.principals ?? {};
  const from = p.from ?? 'email_local_part';
  if (from === 'claim' && !p.claim) throw invalid('name the claim when principals come from a claim', '/principals/claim');
  if (from !== 'claim' && p.claim) throw invalid('claim is only used with from: "claim"', '/principals/claim');
  const allow = patterns(p.allow, '/principals/allow');
  const deny = p.deny === undefined ? [...DEFAULT_POLICY.principals.deny] : patterns(p.deny, '/principals/deny');

  const extensions = [...new Set(input.extensions ?? DEFAULT_POLICY.extensions)].sort();
  extensions.forEach((e, i) => {
    if (!STANDARD_EXTENSIONS.includes(e) && !CUSTOM_EXTENSION.test(e)) throw invalid(`unknown extension ${JSON.stringify(e)}`, `/extensions/${i}`);
  });

  const fc = input.critical_options?.force_command;
  fc?.allowed.forEach((c, i) => {
    if (!COMMAND.test(c)) throw invalid('a command is one line', `/critical_options/force_command/allowed/${i}`);
  });
  if (fc?.default !== undefined && !fc.allowed.includes(fc.default)) {
    throw invalid('the default command must be one of the allowed ones', '/critical_options/force_command/default');
  }
  // A restriction with no value to apply would issue unrestricted certificates to people, who cannot choose.
  if (mode === 'write' && fc && fc.default === undefined && new Set(fc.allowed).size > 1) {
    throw invalid('name the default command: every certificate carries one of the allowed commands', '/critical_options/force_command/default');
  }
  const sa = input.critical_options?.source_address;
  const saAllowed = sa ? cidrs(sa.allowed, '/critical_options/source_address/allowed') : [];
  const saDefault = sa?.default ? cidrs(sa.default, '/critical_options/source_address/default') : null;
  if (saDefault && !withinAll(saAllowed, saDefault)) {
    throw invalid('the default addresses must lie within the allowed ones', '/critical_options/source_address/default');
  }
  return {
    ttl, maxTtl, backdate,
    principals: { from, claim: p.claim ?? null, allow, deny },
    extensions,
    forceCommand: fc ? { allowed: [...fc.allowed], default: fc.default ?? null } : null,
    sourceAddress: sa ? { allowed: saAllowed, default: saDefault } : null,
    keyTypes: [...new Set(input.key_types ?? DEFAULT_POLICY.keyTypes)],
  };
}

function withinAll(allowed: string[], requested: string[]): boolean {
  const outer = allowed.map((a) => parseCidr(a)!);
  return requested.every((r) => {
    const inner = parseCidr(r);
    return inner !== null && outer.some((o) => cidrContains(o, inner));
  });
}

/** The wire form of a policy. */
export function policyView(p: CertPolicy): CertPolicyView {
  return {
    ttl: formatGoDuration(p.ttl),
    max_ttl: formatGoDuration(p.maxTtl),
    backdate: formatGoDuration(p.backdate),
    principals: { from: p.principals.from, ...(p.principals.claim ? { claim: p.principals.claim } : {}), allow: p.principals.allow, deny: p.principals.deny },
    extensions: p.extensions,
    critical_options: {
      ...(p.forceCommand ? { force_command: { allowed: p.forceCommand.allowed, ...(p.forceCommand.default ? { default: p.forceCommand.default } : {}) } } : {}),
      ...(p.sourceAddress ? { source_address: { allowed: p.sourceAddress.allowed, ...(p.sourceAddress.default ? { default: p.sourceAddress.default } : {}) } } : {}),
    },
    key_types: p.keyTypes,
  };
}

/** The principal a person gets from their verified token's claims, by the policy's rule. */
export function principalFromClaims(policy: CertPolicy, email: string, claims: Record<string, unknown>): string {
  let name: unknown;
  if (policy.principals.from === 'email') name = email;
  else if (policy.principals.from === 'email_local_part') name = email.slice(0, email.lastIndexOf('@'));
  else name = claims[policy.principals.claim!];
  if (typeof name !== 'string' || !PRINCIPAL.test(name)) {
    throw refuse(policy.principals.from === 'claim'
      ? `the token's ${policy.principals.claim} claim is not a usable login name`
      : 'the email does not make a usable login name');
  }
  return name;
}

export interface CertRequest {
  /** People get the principal their token maps to; automation names its own, which `allow` must cover. */
  requester: 'person' | 'automation';
  keyType: UserKeyType;
  principals: string[];
  ttl?: number | undefined;
  forceCommand?: string | undefined;
  sourceAddress?: string[] | undefined;
  extensions?: string[] | undefined;
}

export interface CertDecision {
  principals: string[];
  ttl: number;
  criticalOptions: Record<string, string>;
  extensions: Record<string, string>;
}

/** Decides what a certificate may say, or throws 403 12140 naming the rule that refused it. */
export function decide(policy: CertPolicy, req: CertRequest): CertDecision {
  if (!policy.keyTypes.includes(req.keyType)) {
    throw refuse(`key type ${req.keyType} is not allowed for this application (allowed: ${policy.keyTypes.join(', ')})`);
  }
  if (req.principals.length === 0) throw refuse('at least one principal is needed');
  const { allow, deny } = policy.principals;
  if (req.requester === 'automation' && allow.length === 0) {
    throw refuse('this application\'s policy allows no principals for signing requests: list them in principals.allow');
  }
  for (const p of req.principals) {
    if (!PRINCIPAL.test(p)) throw refuse(`${JSON.stringify(p.slice(0, 64))} is not a usable principal`);
    // Deny ignores case: `Root` is no way around a denied `root` on systems that fold names.
    if (matchesAny(deny.map((d) => d.toLowerCase()), p.toLowerCase())) throw refuse(`principal ${JSON.stringify(p)} is denied for this application`);
    if (allow.length > 0 && !matchesAny(allow, p)) throw refuse(`principal ${JSON.stringify(p)} is not allowed for this application`);
  }
  const ttl = req.ttl ?? policy.ttl;
  if (!Number.isInteger(ttl) || ttl < 1) throw refuse('ttl must be a whole number of seconds, at least 1');
  if (ttl > policy.maxTtl) throw refuse(`ttl ${formatGoDuration(ttl)} is over this application's maximum of ${formatGoDuration(policy.maxTtl)}`);

  // The absence of a restriction is not a value in the allowed set: a restricted option is always carried.
  const criticalOptions: Record<string, string> = {};
  const fc = policy.forceCommand;
  const onlyCommand = fc && new Set(fc.allowed).size === 1 ? fc.allowed[0] : undefined;
  const command = req.forceCommand ?? fc?.default ?? onlyCommand;
  if (fc && command === undefined) throw refuse('this application restricts force-command but its policy names no default: an operator must set one');
  if (command !== undefined) {
    if (!fc?.allowed.includes(command)) throw refuse('force-command is not one this application allows');
    criticalOptions['force-command'] = command;
  }
  const addresses = req.sourceAddress ?? policy.sourceAddress?.default ?? policy.sourceAddress?.allowed;
  if (addresses !== undefined) {
    if (!policy.sourceAddress || addresses.length === 0 || !withinAll(policy.sourceAddress.allowed, addresses)) {
      throw refuse('source-address is not within the blocks this application allows');
    }
    criticalOptions['source-address'] = addresses.map((a) => parseCidr(a)!.text).join(',');
  }
  const wanted = req.extensions ?? policy.extensions;
  const extensions: Record<string, string> = {};
  for (const e of wanted) {
    if (!policy.extensions.includes(e)) throw refuse(`extension ${JSON.stringify(e.slice(0, 64))} is not allowed for this application`);
    extensions[e] = '';
  }
  return { principals: [...new Set(req.principals)], ttl, criticalOptions, extensions };
}
