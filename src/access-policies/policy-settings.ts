import { Type } from 'typebox';
import { errors } from '../platform/http/errors.ts';
import { mfaConfig, Text, withoutNulls, type Optional } from '../access-apps/access-app-settings.ts';

/**
 * The fields of Cloudflare's policy object beyond its name, decision, rules, precedence and session
 * duration (SDK v7's `applications.policies` and `access.policies`). `connection_rules` has a column of
 * its own (an infrastructure application's SSH logins); the rest is kept as JSON in `settings`. Two gate
 * issuance (`approval_required`, `purpose_justification_required`: the decider refuses while access-ca
 * has no access requests); what cannot be honoured (isolation, a second factor) is refused when written.
 */

/** A UNIX login a certificate may name: what the certificate policy takes as a principal. */
const Username = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9._@+-]+$' });
const Bool = Type.Boolean();

/** `connection_rules`: SSH logins for infrastructure applications; RDP's clipboard rules are kept, with no effect. */
export const connectionRules = (opt: Optional) => Type.Object({
  ssh: opt(Type.Object({
    usernames: Type.Array(Username, { maxItems: 100 }),
    allow_email_alias: opt(Bool),
  }, { additionalProperties: false })),
  rdp: opt(Type.Object({
    allowed_clipboard_local_to_remote_formats: opt(Type.Array(Type.Enum(['text', 'file']), { maxItems: 2 })),
    allowed_clipboard_remote_to_local_formats: opt(Type.Array(Type.Enum(['text', 'file']), { maxItems: 2 })),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

/** The policy fields kept in `settings`, and `connection_rules`, as the SDK types them. */
export function policySettingsFields(opt: Optional) {
  return {
    approval_groups: opt(Type.Array(Type.Object({
      approvals_needed: Type.Integer({ minimum: 0, maximum: 1000 }),
      email_addresses: opt(Type.Array(Text(320, 3), { maxItems: 100 })),
      email_list_uuid: opt(Text(64)),
    }, { additionalProperties: false }), { maxItems: 20 })),
    approval_required: opt(Bool),
    connection_rules: opt(connectionRules(opt)),
    isolation_required: opt(Bool),
    mfa_config: opt(mfaConfig(opt)),
    purpose_justification_prompt: opt(Text(1024)),
    purpose_justification_required: opt(Bool),
  };
}

const SETTINGS = ['approval_groups', 'approval_required', 'isolation_required', 'mfa_config', 'purpose_justification_prompt', 'purpose_justification_required'] as const;

export type PolicySettings = Partial<Record<typeof SETTINGS[number], unknown>> & {
  approval_required?: boolean;
  purpose_justification_required?: boolean;
};
export interface ConnectionRules {
  ssh?: { usernames: string[]; allow_email_alias?: boolean };
  rdp?: Record<string, string[]>;
}

/** What a policy row keeps beyond its rules: its settings and connection rules, as JSON columns. */
export interface PolicyExtras {
  settings: PolicySettings;
  connection_rules: ConnectionRules | null;
}

export const parsePolicySettings = (row: { settings: string }): PolicySettings => JSON.parse(row.settings) as PolicySettings;
export const parseConnectionRules = (row: { connection_rules: string | null }): ConnectionRules | null =>
  row.connection_rules === null ? null : JSON.parse(row.connection_rules) as ConnectionRules;

/**
 * The extras after a write: a field left out keeps its stored value, `null` clears it (as for an
 * application's settings), and what access-ca cannot honour is refused, naming the field.
 */
export function mergePolicyExtras(stored: PolicyExtras | undefined, input: Record<string, unknown>, decision: string): PolicyExtras {
  const settings: Record<string, unknown> = { ...(stored?.settings ?? {}) };
  for (const name of SETTINGS) {
    if (!(name in input)) continue;
    const value = input[name];
    if (value === null || value === undefined) delete settings[name];
    else settings[name] = withoutNulls(value);
  }
  const rules = !('connection_rules' in input) ? (stored?.connection_rules ?? null)
    : input['connection_rules'] === null ? null : withoutNulls(input['connection_rules']) as ConnectionRules;
  const kept = (name: string) => (name in input ? '' : ` (kept from before: send "${name}": null to clear it)`);
  if (settings['isolation_required'] === true) {
    throw errors.invalidRequest('access-ca cannot serve an application in an isolated browser, so it would issue certificates without isolation', '/isolation_required');
  }
  const mfa = settings['mfa_config'] as { mfa_disabled?: boolean } | undefined;
  if (mfa && mfa.mfa_disabled !== true) {
    throw errors.invalidRequest(`access-ca cannot require a second factor at sign-in, so it would issue certificates without one: set mfa_disabled: true or leave mfa_config out${kept('mfa_config')}`, '/mfa_config/mfa_disabled');
  }
  if (rules !== null && decision !== 'allow') {
    throw errors.invalidRequest(`connection_rules go with decision allow${kept('connection_rules')}`, '/connection_rules');
  }
  return { settings: settings as PolicySettings, connection_rules: rules && Object.keys(rules).length > 0 ? rules : null };
}

/** The columns of the extras. */
export const extrasColumns = (extras: PolicyExtras) => ({
  settings: JSON.stringify(extras.settings),
  connection_rules: extras.connection_rules === null ? null : JSON.stringify(extras.connection_rules),
});

/** The extras as the policy object shows them: Cloudflare's defaults, then what was written. */
export function extrasView(row: { settings: string; connection_rules: string | null }) {
  const rules = parseConnectionRules(row);
  return {
    approval_groups: [], approval_required: false, isolation_required: false, purpose_justification_required: false,
    ...parsePolicySettings(row),
    ...(rules === null ? {} : { connection_rules: rules.ssh ? { ...rules, ssh: { allow_email_alias: false, ...rules.ssh } } : rules }),
  };
}

/**
 * Cloudflare's rules for a policy an application uses: an infrastructure application's policies only
 * allow, and only they take connection rules. `at` is where the policy's fields are (`''` for the body
 * being written, `/policies/3` for one written inline); `named` makes the refusal name the policy and point
 * at `at` itself (a listed reusable policy, or one the application keeps).
 */
export function checkForApp(app: { name: string; type: string }, policy: { name: string; decision: string; connection_rules: string | null }, at: string, named = false): void {
  const which = named ? `policy "${policy.name}": ` : '';
  if (app.type === 'infrastructure' && policy.decision !== 'allow') {
    throw errors.invalidRequest(`${which}the policies of an infrastructure application can only allow (application "${app.name}")`, named ? at : `${at}/decision`);
  }
  if (app.type !== 'infrastructure' && policy.connection_rules !== null) {
    throw errors.invalidRequest(`${which}only the policies of infrastructure applications take connection_rules (application "${app.name}" is ${app.type})`, named ? at : `${at}/connection_rules`);
  }
}
