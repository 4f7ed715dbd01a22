/** The host an application's domain names (`h`, `h:port`, `h/path` → `h`), lowercased; null for no domain. */
export function hostOfDomain(domain: string | null): string | null {
  if (domain === null) return null;
  return domain.split(/[/:]/)[0]!.toLowerCase();
}
