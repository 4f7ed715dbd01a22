import { useState } from 'preact/hooks';
import { fieldMessage, otherMessages, type Api } from '../api.ts';
import type { IdpInput, IdpView } from '../api-types.ts';
import { splitList } from '../hooks.ts';
import { SelectField, TextArea, TextField } from '../components/field.tsx';
import { ErrorNote } from '../components/status.tsx';

const FIELDS = ['/name', '/config/issuer', '/config/jwks_url', '/config/jwks', '/config/audiences', '/config/email_domains', '/config/email_claim', '/config'];
const SOURCES = [
  { value: 'url', label: 'Fetch from a JWKS URL' },
  { value: 'inline', label: 'Paste the JWKS (JSON)' },
] as const;

/** Adds an identity provider or edits one: whose signed tokens name people, and where their keys are. */
export function IdpForm(props: { api: Api; idp?: IdpView; onSaved(idp: IdpView): void; onCancel(): void }) {
  const { idp } = props;
  const [name, setName] = useState(idp?.name ?? '');
  const [issuer, setIssuer] = useState(idp?.config.issuer ?? '');
  const [source, setSource] = useState(idp?.config.jwks ? 'inline' : 'url');
  const [jwksUrl, setJwksUrl] = useState(idp?.config.jwks_url ?? '');
  const [jwks, setJwks] = useState(idp?.config.jwks ? JSON.stringify(idp.config.jwks, null, 2) : '');
  const [audiences, setAudiences] = useState(idp?.config.audiences.join('\n') ?? '');
  const [domains, setDomains] = useState(idp?.config.email_domains.join('\n') ?? '');
  const [emailClaim, setEmailClaim] = useState(idp?.config.email_claim ?? 'email');
  const [failure, setFailure] = useState<unknown>(undefined);
  const [jwksError, setJwksError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const p = idp ? 'edit-idp' : 'new-idp';

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    setJwksError(undefined);
    let keys: IdpInput['config']['jwks'];
    if (source === 'inline') {
      try {
        keys = JSON.parse(jwks);
      } catch {
        setJwksError('This is not JSON: paste the provider\'s {"keys": [...]} document.');
        return;
      }
    }
    // PUT replaces the provider: a client secret already set is kept only by the CLI, which can resend it.
    const body: IdpInput = {
      name, type: 'oidc',
      config: {
        issuer: issuer.trim(),
        ...(source === 'url' ? { jwks_url: jwksUrl.trim() } : { jwks: keys }),
        audiences: splitList(audiences), email_domains: splitList(domains),
        ...(emailClaim.trim() ? { email_claim: emailClaim.trim() } : {}),
        ...(idp?.config.client_id ? { client_id: idp.config.client_id } : {}),
        ...(idp ? { scopes: idp.config.scopes, email_verified_required: idp.config.email_verified_required, max_token_lifetime: idp.config.max_token_lifetime } : {}),
      },
    };
    setBusy(true);
    try {
      props.onSaved(await props.api.send<IdpView>(idp ? 'PUT' : 'POST', idp ? `/access/identity_providers/${idp.id}` : '/access/identity_providers', body));
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} class="card" aria-label={idp ? `Edit ${idp.name}` : 'New identity provider'} noValidate>
      <h2>{idp ? 'Edit the identity provider' : 'Add an identity provider'}</h2>
      <TextField id={`${p}-name`} label="Name" value={name} onInput={setName} required error={fieldMessage(failure, '/name')} />
      <TextField id={`${p}-issuer`} label="Issuer (iss)" value={issuer} onInput={setIssuer} required error={fieldMessage(failure, '/config/issuer')} hint="e.g. https://accounts.example.com" />
      <SelectField id={`${p}-source`} label="Signing keys" value={source} onChange={setSource} options={SOURCES} />
      {source === 'url' ? (
        <TextField id={`${p}-jwks-url`} label="JWKS URL" value={jwksUrl} onInput={setJwksUrl} required error={fieldMessage(failure, '/config/jwks_url')} hint="The server fetches it when you save and refuses a URL without usable keys." />
      ) : (
        <TextArea id={`${p}-jwks`} label="JWKS (JSON)" rows={6} value={jwks} onInput={setJwks} required error={jwksError ?? fieldMessage(failure, '/config/jwks')} />
      )}
      <TextArea id={`${p}-audiences`} label="Audiences accepted (one per line; empty: the application's aud)" value={audiences} onInput={setAudiences} error={fieldMessage(failure, '/config/audiences')} />
      <TextArea id={`${p}-domains`} label="Email domains it speaks for (one per line; empty: any)" value={domains} onInput={setDomains} error={fieldMessage(failure, '/config/email_domains')} />
      <TextField id={`${p}-email-claim`} label="Email claim" value={emailClaim} onInput={setEmailClaim} error={fieldMessage(failure, '/config/email_claim')} />
      <ErrorNote error={undefined} messages={otherMessages(failure, FIELDS.filter((f) => f !== '/config'))} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : idp ? 'Save changes' : 'Add identity provider'}</button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </form>
  );
}
