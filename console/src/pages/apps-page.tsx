import { useState } from 'preact/hooks';
import { lacksPermission, type Api } from '../api.ts';
import type { AppView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';
import { Empty, ErrorNote, Loading } from '../components/status.tsx';
import { Pager } from '../components/pager.tsx';
import { AppForm } from './app-form.tsx';

const PER_PAGE = 25;

/** Applications: one page of the account's list, a search over it, and the form that adds one. */
export function AppsPage(props: { api: Api }) {
  const [page, setPage] = useState(1);
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const list = useLoad(() => props.api.page<AppView>(`/access/apps?page=${page}&per_page=${PER_PAGE}`), [page]);
  const needle = search.trim().toLowerCase();
  const shown = (list.data?.items ?? []).filter((a) => needle === '' || a.name.toLowerCase().includes(needle) || (a.domain ?? '').toLowerCase().includes(needle) || a.id.includes(needle));

  return (
    <section>
      <h1 tabIndex={-1}>Applications</h1>
      <p class="lead">Each application has its own short-lived SSH certificate authority and the policies that decide who gets a certificate.</p>
      {creating ? (
        <AppForm api={props.api} onSaved={(app) => navigate(`/apps/${app.id}`)} onCancel={() => setCreating(false)} />
      ) : lacksPermission(list.error) ? null : (
        <button type="button" class="primary" onClick={() => setCreating(true)}>New application</button>
      )}
      <div class="toolbar" role="search">
        <label for="app-search">Search applications</label>
        <input id="app-search" type="search" value={search} onInput={(e) => setSearch((e.currentTarget as HTMLInputElement).value)} placeholder="Name, domain or ID" />
      </div>
      {list.loading && !list.data ? <Loading what="applications" /> : null}
      <ErrorNote error={list.error} />
      {list.data && list.data.items.length === 0 ? <Empty>No applications yet. Create one to issue certificates.</Empty> : null}
      {list.data && list.data.items.length > 0 && shown.length === 0 ? <Empty>No application on this page matches “{search}”.</Empty> : null}
      {shown.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Applications</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Domain</th><th scope="col">Type</th><th scope="col">Policies</th><th scope="col">Updated</th></tr></thead>
            <tbody>
              {shown.map((a) => (
                <tr key={a.id}>
                  <th scope="row"><Link to={`/apps/${a.id}`}>{a.name}</Link></th>
                  <td>{a.domain ?? '—'}</td>
                  <td>{a.type}</td>
                  <td>{a.policies.length}</td>
                  <td><time dateTime={a.updated_at}>{a.updated_at}</time></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager info={list.data?.info} onPage={setPage} label="Applications" />
    </section>
  );
}
