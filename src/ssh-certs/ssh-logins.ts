import { asciiLower } from '../platform/text.ts';

/** Cloudflare's `connection_rules` of an Access policy, as far as SSH goes. */
export interface ConnectionRules {
  ssh?: { usernames?: string[] | undefined; allow_email_alias?: boolean | undefined } | undefined;
}

/**
 * The UNIX logins the allowing policy grants a person on an infrastructure application's targets: its
 * `usernames`, and the email's local part when `allow_email_alias` is true, in that order without
 * repeats. None when the policy states none: a person never gets a login no allowing policy names.
 */
export function grantedLogins(rules: ConnectionRules | null | undefined, email: string): string[] {
  const ssh = rules?.ssh;
  if (!ssh) return [];
  const logins = [...(ssh.usernames ?? [])];
  if (ssh.allow_email_alias === true) {
    const at = email.lastIndexOf('@');
    if (at > 0) logins.push(email.slice(0, at));
  }
  const seen = new Set<string>();
  return logins.filter((l) => !seen.has(asciiLower(l)) && seen.add(asciiLower(l)));
}
