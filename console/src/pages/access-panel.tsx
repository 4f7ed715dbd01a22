import type { Api } from '../api.ts';
import type { AppView, GroupView, IdpView, PolicyView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { ruleText, type Rule } from '../rules.ts';
import { Link } from '../router.tsx';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { Empty, ErrorNote, Loading } from '../components/status.tsx';
import { PolicyForm } from './policy-form.tsx';
import { AccessCheck } from './access-check.tsx';

/** A list the token may not read is shown as empty rather than failing the page (the form still works). */
const orEmpty = async <T,>(load: Promise<{ items: T[] }>): Promise<T[]> => {
  try {
    return (await load).items;
  } catch {
    return [];
  }
};

const rulesLine = (label: string, rules: Rule[] | undefined) =>
  rules && rules.length > 0 ? <li>{label}: {rules.map(ruleText).join('; ')}</li> : null;

/** Who may get a certificate: the application's Access policies in order, the account's groups, and the dry-run check. */
export function AccessPanel(props: { api: Api; app: AppView; onChanged(): void }) {
  const { api, app } = props;
  const policies = useLoad(() => api.page<PolicyView>(`/access/apps/${app.id}/policies?per_page=100`), [app.id]);
  const groups = useLoad(() => orEmpty(api.page<GroupView>('/access/groups?per_page=100')), []);
  const idps = useLoad(() => orEmpty(api.page<IdpView>('/access/identity_providers?per_page=100')), []);
  const changed = () => {
    policies.reload();
    props.onChanged();
  };

  return (
    <>
      <h2>Access policies</h2>
      <p>Policies are checked in order; the first that matches decides. With none, nobody gets a certificate.</p>
      {policies.loading && !policies.data ? <Loading what="the policies" /> : null}
      <ErrorNote error={policies.error} />
      {policies.data && policies.data.items.length === 0 ? <Empty>No policies yet: nobody can get a certificate for this application.</Empty> : null}
      {policies.data && policies.data.items.length > 0 ? (
        <ol class="policies">
          {policies.data.items.map((p) => (
            <li key={p.id} class="card">
              <p class="policy-title"><strong>{p.name}</strong> <span class={`badge ${p.decision}`}>{p.decision}</span>{p.reusable ? <span class="badge">reusable</span> : null}</p>
              <ul class="rules">
                {rulesLine('Include', p.include)}
                {rulesLine('Require', p.require)}
                {rulesLine('Exclude', p.exclude)}
              </ul>
              {p.reusable ? null : (
                <ConfirmButton
                  label={`Delete policy ${p.name}`} confirmLabel="Delete the policy"
                  warning="People this policy lets in will no longer get certificates unless another policy allows them."
                  onConfirm={async () => {
                    await api.send('DELETE', `/access/apps/${app.id}/policies/${p.id}`);
                    changed();
                  }}
                />
              )}
            </li>
          ))}
        </ol>
      ) : null}
      <PolicyForm api={api} appId={app.id} groups={groups.data ?? []} onSaved={changed} />
      <AccessCheck api={api} appId={app.id} idps={idps.data ?? []} />
      <h2>Access groups of the account</h2>
      {groups.data && groups.data.length === 0 ? <Empty>No groups. <Link to="/groups">Create one</Link> to name a set of people once.</Empty> : null}
      {groups.data && groups.data.length > 0 ? (
        <ul>
          {groups.data.map((g) => <li key={g.id}><strong>{g.name}</strong>: {g.include.map(ruleText).join('; ') || 'nobody'}</li>)}
        </ul>
      ) : null}
      <p><Link to="/groups">Manage the groups</Link></p>
    </>
  );
}
