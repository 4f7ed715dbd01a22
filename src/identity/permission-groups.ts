/** The permission groups a token can hold, named as Cloudflare names them. */
export const PERMISSION_GROUPS = [
  'Access: Apps and Policies Write',
  'Access: Apps and Policies Read',
  'Access: Organizations, Identity Providers, and Groups Write',
  'Access: Organizations, Identity Providers, and Groups Read',
  'Access: SSH Certificates Sign',
] as const;

export type PermissionGroup = (typeof PERMISSION_GROUPS)[number];

/**
 * What the first start's admin token holds: every group, so the operator who has only that token can do
 * everything the console and the walk-through show (an identity provider as well as an application, the
 * audit trail, a signature); narrower tokens are made from it with `access-ca token create`.
 */
export const FIRST_TOKEN_PERMISSIONS: readonly PermissionGroup[] = PERMISSION_GROUPS;

export const APPS_WRITE: readonly PermissionGroup[] = ['Access: Apps and Policies Write'];
export const APPS_READ: readonly PermissionGroup[] = ['Access: Apps and Policies Write', 'Access: Apps and Policies Read'];

export function isPermissionGroup(name: string): name is PermissionGroup {
  return (PERMISSION_GROUPS as readonly string[]).includes(name);
}
export const IDP_WRITE: readonly PermissionGroup[] = ['Access: Organizations, Identity Providers, and Groups Write'];
export const IDP_READ: readonly PermissionGroup[] = [
  'Access: Organizations, Identity Providers, and Groups Write',
  'Access: Organizations, Identity Providers, and Groups Read',
];
export const CERTS_SIGN: readonly PermissionGroup[] = ['Access: SSH Certificates Sign'];
/** Access groups: Cloudflare files them under Organizations, Identity Providers, and Groups; a token that may
 * write policies may edit groups too (it could grant as much through a policy). */
export const GROUPS_WRITE: readonly PermissionGroup[] = [...IDP_WRITE, ...APPS_WRITE];
export const GROUPS_READ: readonly PermissionGroup[] = [...IDP_READ, ...APPS_READ];
/** The audit trail of an account: any Access group that may read its objects (not SSH Certificates Sign alone). */
export const AUDIT_READ: readonly PermissionGroup[] = [...APPS_READ, ...IDP_READ];
