import { useState } from 'preact/hooks';
import { fieldMessage, otherMessages, type Api } from '../api.ts';
import { ErrorNote } from '../components/status.tsx';

/** Revokes one certificate with a reason, after the operator opens the form for that row. */
export function RevokeForm(props: { api: Api; appId: string; certId: string; label: string; onRevoked(): void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [failure, setFailure] = useState<unknown>(undefined);
  const id = `revoke-reason-${props.certId}`;
  if (!open) return <button type="button" class="danger" onClick={() => setOpen(true)} aria-label={`Revoke ${props.label}`}>Revoke</button>;
  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    try {
      await props.api.send('POST', `/access/apps/${props.appId}/ca/certificates/${props.certId}/revoke`, { reason: reason.trim() });
      setOpen(false);
      props.onRevoked();
    } catch (error) {
      setFailure(error);
    }
  };
  const err = fieldMessage(failure, '/reason');
  return (
    <form onSubmit={submit} class="revoke" noValidate aria-label={`Revoke ${props.label}`}>
      <label for={id}>Reason</label>
      <input id={id} value={reason} required aria-invalid={err ? 'true' : undefined} aria-describedby={err ? `${id}-error` : undefined}
        onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)} />
      {err ? <p class="field-error" id={`${id}-error`}>{err}</p> : null}
      <ErrorNote error={undefined} messages={otherMessages(failure, ['/reason'])} />
      <button type="submit" class="danger" disabled={reason.trim() === ''}>Revoke certificate</button>
      <button type="button" onClick={() => setOpen(false)}>Cancel</button>
    </form>
  );
}
