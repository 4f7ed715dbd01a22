import { useState } from 'preact/hooks';
import { lacksPermission, type Api } from '../api.ts';
import type { IdpView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { Empty, ErrorNote, Loading, Notice } from '../components/status.tsx';
import { Pager } from '../components/pager.tsx';
import { IdpForm } from './idp-form.tsx';
import { IdpKeys } from './idp-keys.tsx';

/** Identity providers: whose signed tokens cert_sign believes; add, edit, test (show the keys), delete. */
export function IdpsPage(props: { api: Api }) {
  const { api } = props;
  const [page, setPage] = useState(1);
  const list = useLoad(() => api.page<IdpView>(`/access/identity_providers?page=${page}&per_page=50`), [page]);
  const [editing, setEditing] = useState<IdpView | 'new' | null>(null);
  const [testing, setTesting] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | undefined>(undefined);

  return (
    <section>
      <h1 tabIndex={-1}>Identity providers</h1>
      <p class="lead">cert_sign issues a certificate only for a token signed by one of these providers, for an application whose policies allow the person.</p>
      <Notice text={saved} />
      {editing ? (
        <IdpForm
          key={editing === 'new' ? 'new' : editing.id} api={api} idp={editing === 'new' ? undefined : editing}
          onCancel={() => setEditing(null)}
          onSaved={(idp) => {
            setEditing(null);
            setSaved(`Saved identity provider “${idp.name}”.`);
            list.reload();
          }}
        />
      ) : lacksPermission(list.error) ? null : (
        <button type="button" class="primary" onClick={() => setEditing('new')}>Add identity provider</button>
      )}
      {list.loading && !list.data ? <Loading what="identity providers" /> : null}
      <ErrorNote error={list.error} />
      {list.data && list.data.items.length === 0 ? <Empty>No identity providers yet: nobody can get a certificate through cert_sign.</Empty> : null}
      {list.data && list.data.items.length > 0 ? (
        <ul class="cards">
          {list.data.items.map((p) => (
            <li key={p.id} class="card idp">
              <h2 class="idp-name">{p.name}</h2>
              <dl class="facts">
                <div><dt>Issuer</dt><dd><code class="wrap">{p.config.issuer}</code></dd></div>
                <div><dt>Keys</dt><dd>{p.config.jwks_url ? <code class="wrap">{p.config.jwks_url}</code> : `${p.config.jwks?.keys.length ?? 0} pasted`}</dd></div>
                <div><dt>Email domains</dt><dd>{p.config.email_domains.join(', ') || 'any'}</dd></div>
              </dl>
              <div class="actions">
                <button type="button" aria-expanded={testing === p.id} onClick={() => setTesting(testing === p.id ? null : p.id)}>{`Test ${p.name}`}</button>
                <button type="button" onClick={() => setEditing(p)}>{`Edit ${p.name}`}</button>
              </div>
              {testing === p.id ? <IdpKeys idp={p} /> : null}
              <ConfirmButton
                label={`Delete ${p.name}`} confirmLabel="Delete the provider"
                warning="Tokens it signs will no longer get certificates. A provider that policies name cannot be deleted."
                onConfirm={async () => {
                  await api.send('DELETE', `/access/identity_providers/${p.id}`);
                  list.reload();
                }}
              />
            </li>
          ))}
        </ul>
      ) : null}
      <Pager info={list.data?.info} onPage={setPage} label="Identity providers" />
    </section>
  );
}
