import { useState } from 'preact/hooks';
import { fieldMessage, otherMessages, type Api } from '../api.ts';
import type { AppView } from '../api-types.ts';
import { SelectField, TextField } from '../components/field.tsx';
import { ErrorNote } from '../components/status.tsx';

const FIELDS = ['/name', '/domain', '/type', '/session_duration'] as const;
const TYPES = [
  { value: 'self_hosted', label: 'Self-hosted' },
  { value: 'ssh', label: 'SSH' },
  { value: 'infrastructure', label: 'Infrastructure' },
] as const;

/** Creates an application, or edits one: name, domain, type and session length, with the API's messages beside each. */
export function AppForm(props: { api: Api; app?: AppView; onSaved(app: AppView): void; onCancel?: () => void }) {
  const { app } = props;
  const [name, setName] = useState(app?.name ?? '');
  const [domain, setDomain] = useState(app?.domain ?? '');
  const [type, setType] = useState(app?.type ?? 'self_hosted');
  const [duration, setDuration] = useState(app?.session_duration ?? '24h');
  const [failure, setFailure] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const prefix = app ? 'edit-app' : 'new-app';
  const fieldError = (p: string) => fieldMessage(failure, p);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setFailure(undefined);
    // PUT replaces the application: the policies it lists go back as they are.
    const body = {
      name, type, session_duration: duration,
      ...(domain.trim() ? { domain: domain.trim() } : {}),
      ...(app ? { policies: app.policies.map((p) => (p.precedence === undefined ? p.id : { id: p.id, precedence: p.precedence })) } : {}),
    };
    try {
      const saved = await props.api.send<AppView>(app ? 'PUT' : 'POST', app ? `/access/apps/${app.id}` : '/access/apps', body);
      props.onSaved(saved);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} class="card" aria-label={app ? 'Edit the application' : 'New application'} noValidate>
      <TextField id={`${prefix}-name`} label="Name" value={name} onInput={setName} required error={fieldError('/name')} />
      <TextField id={`${prefix}-domain`} label="Domain" value={domain} onInput={setDomain} error={fieldError('/domain')} hint="The host people reach, e.g. ssh.example.com. Optional." />
      <SelectField id={`${prefix}-type`} label="Type" value={type} onChange={setType} options={TYPES} error={fieldError('/type')} />
      <TextField id={`${prefix}-session`} label="Session duration" value={duration} onInput={setDuration} error={fieldError('/session_duration')} hint="A Go duration: 24h, 30m, 1h30m." />
      <ErrorNote error={undefined} messages={otherMessages(failure, FIELDS)} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{app ? 'Save changes' : 'Create application'}</button>
        {props.onCancel ? <button type="button" onClick={props.onCancel}>Cancel</button> : null}
      </div>
    </form>
  );
}
