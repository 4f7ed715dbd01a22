import { useState } from 'preact/hooks';
import { fieldMessage, otherMessages, type Api } from '../api.ts';
import type { CertPolicyInput, CertPolicyView } from '../api-types.ts';
import { splitList, useLoad } from '../hooks.ts';
import { SelectField, TextArea, TextField } from '../components/field.tsx';
import { ErrorNote, Loading, Notice } from '../components/status.tsx';

// The pointers the form shows beside a field; any other message is shown under the form.
const FIELDS = ['/ttl', '/max_ttl', '/backdate', '/principals/from', '/principals/claim', '/principals/allow', '/principals/deny', '/extensions', '/key_types', '/critical_options/force_command', '/critical_options/source_address'];
const FROM = [
  { value: 'email_local_part', label: 'The email\'s local part (alice@… → alice)' },
  { value: 'email', label: 'The whole email' },
  { value: 'claim', label: 'A claim of the identity token' },
];
const KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;

interface Draft {
  ttl: string; maxTtl: string; backdate: string; from: string; claim: string; allow: string; deny: string;
  extensions: string; keyTypes: string[]; forceCommands: string; sourceAddresses: string;
}

const draftOf = (p: CertPolicyView): Draft => ({
  ttl: p.ttl, maxTtl: p.max_ttl, backdate: p.backdate, from: p.principals.from, claim: p.principals.claim ?? '',
  allow: p.principals.allow.join('\n'), deny: p.principals.deny.join('\n'), extensions: p.extensions.join('\n'), keyTypes: p.key_types,
  forceCommands: p.critical_options.force_command?.allowed.join('\n') ?? '', sourceAddresses: p.critical_options.source_address?.allowed.join('\n') ?? '',
});

function bodyOf(d: Draft): CertPolicyInput {
  const forceCommands = splitList(d.forceCommands);
  const sources = splitList(d.sourceAddresses);
  return {
    ttl: d.ttl.trim(), max_ttl: d.maxTtl.trim(), backdate: d.backdate.trim(),
    principals: { from: d.from as 'email', ...(d.from === 'claim' ? { claim: d.claim.trim() } : {}), allow: splitList(d.allow), deny: splitList(d.deny) },
    extensions: splitList(d.extensions),
    critical_options: {
      ...(forceCommands.length ? { force_command: { allowed: forceCommands } } : {}),
      ...(sources.length ? { source_address: { allowed: sources } } : {}),
    },
    key_types: d.keyTypes as CertPolicyInput['key_types'],
  };
}

/** The certificate policy as a form: what certificates this application's CA may sign. */
export function CertPolicyForm(props: { api: Api; appId: string }) {
  const { api, appId } = props;
  const policy = useLoad(() => api.get<CertPolicyView>(`/access/apps/${appId}/ca/policy`), [appId]);
  // Held here, not in the fields: a save reloads the policy, which remounts the fields (their key is the
  // policy), and the confirmation must outlive that.
  const [saved, setSaved] = useState<string | undefined>(undefined);
  return (
    <section aria-labelledby="policy-heading" class="card">
      <h2 id="policy-heading">Certificate policy</h2>
      {policy.loading && !policy.data ? <Loading what="the certificate policy" /> : null}
      <ErrorNote error={policy.error} />
      {policy.data ? <PolicyFields key={JSON.stringify(policy.data)} api={api} appId={appId} initial={policy.data} saved={saved} setSaved={setSaved} onSaved={policy.reload} /> : null}
    </section>
  );
}

function PolicyFields(props: { api: Api; appId: string; initial: CertPolicyView; saved: string | undefined; setSaved(text: string | undefined): void; onSaved(): void }) {
  const [d, setD] = useState<Draft>(draftOf(props.initial));
  const [failure, setFailure] = useState<unknown>(undefined);
  const { saved, setSaved } = props;
  const set = <K extends keyof Draft>(k: K) => (v: Draft[K]) => setD((x) => ({ ...x, [k]: v }));
  const err = (p: string) => fieldMessage(failure, p);

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    setSaved(undefined);
    try {
      await props.api.send('PUT', `/access/apps/${props.appId}/ca/policy`, bodyOf(d));
      setSaved('Certificate policy saved.');
      props.onSaved();
    } catch (error) {
      setFailure(error);
    }
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Certificate policy">
      <div class="grid">
        <TextField id="cp-ttl" label="Certificate lifetime (ttl)" value={d.ttl} onInput={set('ttl')} error={err('/ttl')} hint="Go duration, e.g. 3m or 1h." />
        <TextField id="cp-max-ttl" label="Longest lifetime a request may ask for (max_ttl)" value={d.maxTtl} onInput={set('maxTtl')} error={err('/max_ttl')} />
        <TextField id="cp-backdate" label="Backdate (clock skew allowance)" value={d.backdate} onInput={set('backdate')} error={err('/backdate')} />
      </div>
      <SelectField id="cp-from" label="Principals come from" value={d.from} onChange={set('from')} options={FROM} error={err('/principals/from')} />
      {d.from === 'claim' ? <TextField id="cp-claim" label="Claim name" value={d.claim} onInput={set('claim')} error={err('/principals/claim')} /> : null}
      <div class="grid">
        <TextArea id="cp-allow" label="Allowed principals (globs, one per line)" value={d.allow} onInput={set('allow')} error={err('/principals/allow')} />
        <TextArea id="cp-deny" label="Denied principals (globs, one per line)" value={d.deny} onInput={set('deny')} error={err('/principals/deny')} />
      </div>
      <TextArea id="cp-extensions" label="Extensions (one per line)" value={d.extensions} onInput={set('extensions')} error={err('/extensions')} hint="e.g. permit-pty, permit-port-forwarding" />
      <fieldset aria-describedby={err('/key_types') ? 'cp-key-types-error' : undefined}>
        <legend>User key types accepted</legend>
        {KEY_TYPES.map((t) => (
          <label key={t} class="check">
            <input
              type="checkbox" checked={d.keyTypes.includes(t)}
              onChange={(e) => set('keyTypes')((e.currentTarget as HTMLInputElement).checked ? [...d.keyTypes, t] : d.keyTypes.filter((k) => k !== t))}
            />
            {t}
          </label>
        ))}
        {err('/key_types') ? <p class="field-error" id="cp-key-types-error">{err('/key_types')}</p> : null}
      </fieldset>
      <div class="grid">
        <TextArea id="cp-force-command" label="Allowed forced commands (one per line; empty: none forced)" value={d.forceCommands} onInput={set('forceCommands')} error={err('/critical_options/force_command')} />
        <TextArea id="cp-source-address" label="Allowed source addresses (CIDR, one per line)" value={d.sourceAddresses} onInput={set('sourceAddresses')} error={err('/critical_options/source_address')} />
      </div>
      <ErrorNote error={undefined} messages={otherMessages(failure, FIELDS)} />
      <Notice text={saved} />
      <button type="submit" class="primary">Save certificate policy</button>
    </form>
  );
}
