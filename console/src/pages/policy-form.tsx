import { useState } from 'preact/hooks';
import { fieldMessage, otherMessages, type Api } from '../api.ts';
import type { GroupView, PolicyView } from '../api-types.ts';
import { splitList } from '../hooks.ts';
import { RULE_KINDS, rulesOf } from '../rules.ts';
import { SelectField, TextArea, TextField } from '../components/field.tsx';
import { ErrorNote } from '../components/status.tsx';

const FIELDS = ['/name', '/decision', '/include', '/session_duration'];
const DECISIONS = [
  { value: 'allow', label: 'Allow' },
  { value: 'deny', label: 'Deny' },
] as const;

/** Adds an Access policy to an application: a name, allow or deny, and whom it includes. */
export function PolicyForm(props: { api: Api; appId: string; groups: GroupView[]; onSaved(policy: PolicyView): void }) {
  const [name, setName] = useState('');
  const [decision, setDecision] = useState('allow');
  const [kind, setKind] = useState('email');
  const [values, setValues] = useState('');
  const [groupId, setGroupId] = useState('');
  const [failure, setFailure] = useState<unknown>(undefined);
  const spec = RULE_KINDS.find((k) => k.value === kind)!;

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    const list = kind === 'group' ? (groupId ? [groupId] : []) : splitList(values);
    try {
      const policy = await props.api.send<PolicyView>('POST', `/access/apps/${props.appId}/policies`, { name, decision, include: rulesOf(kind, list) });
      setName('');
      setValues('');
      props.onSaved(policy);
    } catch (error) {
      setFailure(error);
    }
  };

  return (
    <form onSubmit={submit} class="card" aria-label="New Access policy" noValidate>
      <h3>Add a policy</h3>
      <TextField id="policy-name" label="Policy name" value={name} onInput={setName} required error={fieldMessage(failure, '/name')} />
      <SelectField id="policy-decision" label="Decision" value={decision} onChange={setDecision} options={DECISIONS} error={fieldMessage(failure, '/decision')} />
      <SelectField id="policy-kind" label="Include" value={kind} onChange={setKind} options={RULE_KINDS} />
      {kind === 'group' ? (
        <SelectField
          id="policy-group" label="Group" value={groupId} onChange={setGroupId} error={fieldMessage(failure, '/include')}
          options={[{ value: '', label: props.groups.length ? 'Choose a group' : 'No groups yet' }, ...props.groups.map((g) => ({ value: g.id, label: g.name }))]}
        />
      ) : null}
      {spec.field !== '' && kind !== 'group' ? (
        <TextArea id="policy-values" label={`${spec.label} (one per line)`} value={values} onInput={setValues} error={fieldMessage(failure, '/include')} />
      ) : null}
      {kind === 'everyone' && fieldMessage(failure, '/include') ? <p class="field-error">{fieldMessage(failure, '/include')}</p> : null}
      <ErrorNote error={undefined} messages={otherMessages(failure, FIELDS)} />
      <button type="submit" class="primary">Add policy</button>
    </form>
  );
}
