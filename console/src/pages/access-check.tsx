import { useState } from 'preact/hooks';
import { fieldMessage, otherMessages, type Api } from '../api.ts';
import type { AccessCheckView, IdpView } from '../api-types.ts';
import { SelectField, TextField } from '../components/field.tsx';
import { ErrorNote } from '../components/status.tsx';

/** "Would this person get a certificate?": the policies' decision for an email, without issuing anything. */
export function AccessCheck(props: { api: Api; appId: string; idps: IdpView[] }) {
  const [email, setEmail] = useState('');
  const [idp, setIdp] = useState('');
  const [result, setResult] = useState<AccessCheckView | undefined>(undefined);
  const [failure, setFailure] = useState<unknown>(undefined);

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    setResult(undefined);
    try {
      setResult(await props.api.send<AccessCheckView>('POST', `/access/apps/${props.appId}/access_check`, { email: email.trim(), ...(idp ? { identity_provider_id: idp } : {}) }));
    } catch (error) {
      setFailure(error);
    }
  };

  return (
    <form onSubmit={submit} class="card" aria-label="Would this person get a certificate?" noValidate>
      <h3>Would this person get a certificate?</h3>
      <TextField id="check-email" label="Email" type="email" value={email} onInput={setEmail} required error={fieldMessage(failure, '/email')} />
      <SelectField
        id="check-idp" label="Signed in through" value={idp} onChange={setIdp} error={fieldMessage(failure, '/identity_provider_id')}
        options={[{ value: '', label: 'Any identity provider' }, ...props.idps.map((p) => ({ value: p.id, label: p.name }))]}
      />
      <ErrorNote error={undefined} messages={otherMessages(failure, ['/email', '/identity_provider_id'])} />
      <button type="submit">Check</button>
      <div role="status" aria-live="polite" class="check-result">
        {result ? (
          <p class={result.allowed ? 'verdict allowed' : 'verdict denied'}>
            <strong>{result.allowed ? 'Yes: a certificate would be issued.' : 'No: no certificate would be issued.'}</strong>{' '}
            {result.policy ? <>Decided by policy “{result.policy.name}” ({result.policy.decision}). </> : null}
            {result.reason}
          </p>
        ) : null}
      </div>
    </form>
  );
}
