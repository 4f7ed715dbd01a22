import { useState } from 'preact/hooks';
import { fieldMessage, lacksPermission, otherMessages, type Api } from '../api.ts';
import type { GroupView } from '../api-types.ts';
import { splitList, useLoad } from '../hooks.ts';
import { RULE_KINDS, rulesOf, ruleText } from '../rules.ts';
import { SelectField, TextArea, TextField } from '../components/field.tsx';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { Empty, ErrorNote, Loading } from '../components/status.tsx';
import { Pager } from '../components/pager.tsx';

// A group names people: a group inside a group is not offered here.
const KINDS = RULE_KINDS.filter((k) => k.value !== 'group');

/** Access groups: named sets of people that policies include by reference. */
export function GroupsPage(props: { api: Api }) {
  const { api } = props;
  const [page, setPage] = useState(1);
  const list = useLoad(() => api.page<GroupView>(`/access/groups?page=${page}&per_page=50`), [page]);
  const [name, setName] = useState('');
  const [kind, setKind] = useState('email_domain');
  const [values, setValues] = useState('');
  const [failure, setFailure] = useState<unknown>(undefined);

  const submit = async (e: Event) => {
    e.preventDefault();
    setFailure(undefined);
    try {
      await api.send('POST', '/access/groups', { name, include: rulesOf(kind, splitList(values)) });
      setName('');
      setValues('');
      list.reload();
    } catch (error) {
      setFailure(error);
    }
  };

  return (
    <section>
      <h1 tabIndex={-1}>Access groups</h1>
      {list.loading && !list.data ? <Loading what="the groups" /> : null}
      <ErrorNote error={list.error} />
      {list.data && list.data.items.length === 0 ? <Empty>No groups yet.</Empty> : null}
      {list.data && list.data.items.length > 0 ? (
        <ul class="cards">
          {list.data.items.map((g) => (
            <li key={g.id} class="card">
              <p><strong>{g.name}</strong></p>
              <p>Includes: {g.include.map(ruleText).join('; ') || 'nobody'}</p>
              <ConfirmButton
                label={`Delete group ${g.name}`} confirmLabel="Delete the group" warning="A group that policies still use cannot be deleted."
                onConfirm={async () => {
                  await api.send('DELETE', `/access/groups/${g.id}`);
                  list.reload();
                }}
              />
            </li>
          ))}
        </ul>
      ) : null}
      <Pager info={list.data?.info} onPage={setPage} label="Groups" />
      {lacksPermission(list.error) ? null : <form onSubmit={submit} class="card" aria-label="New Access group" noValidate>
        <h2>Add a group</h2>
        <TextField id="group-name" label="Group name" value={name} onInput={setName} required error={fieldMessage(failure, '/name')} />
        <SelectField id="group-kind" label="Members" value={kind} onChange={setKind} options={KINDS} />
        {kind !== 'everyone' ? <TextArea id="group-values" label="Values (one per line)" value={values} onInput={setValues} error={fieldMessage(failure, '/include')} /> : null}
        <ErrorNote error={undefined} messages={otherMessages(failure, ['/name', '/include'])} />
        <button type="submit" class="primary">Add group</button>
      </form>}
    </section>
  );
}
