import { useState } from 'preact/hooks';
import type { Api } from '../api.ts';
import type { CertificateView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { SelectField, TextField } from '../components/field.tsx';
import { Empty, ErrorNote, Loading } from '../components/status.tsx';
import { Pager } from '../components/pager.tsx';
import { RevokeForm } from './revoke-form.tsx';
import { KrlStatus } from './krl-status.tsx';
import { RotationPanel } from './rotation-panel.tsx';

interface Filters {
  principal: string;
  identity: string;
  keyId: string;
  status: string;
}
const NONE: Filters = { principal: '', identity: '', keyId: '', status: '' };
const STATUSES = [
  { value: '', label: 'Any status' },
  { value: 'valid', label: 'Valid' },
  { value: 'expired', label: 'Expired' },
  { value: 'revoked', label: 'Revoked' },
];

function query(f: Filters, page: number): string {
  const q = new URLSearchParams({ page: String(page), per_page: '50' });
  if (f.principal.trim()) q.set('principal', f.principal.trim());
  if (f.identity.trim()) q.set('identity', f.identity.trim());
  if (f.keyId.trim()) q.set('key_id', f.keyId.trim());
  if (f.status) q.set('status', f.status);
  return q.toString();
}

/** Issued certificates: the filtered inventory with revoke, the KRL's version, and the CA's rotation. */
export function CertificatesPanel(props: { api: Api; appId: string }) {
  const { api, appId } = props;
  const [draft, setDraft] = useState<Filters>(NONE);
  const [filters, setFilters] = useState<Filters>(NONE);
  const [page, setPage] = useState(1);
  const [revocations, setRevocations] = useState(0);
  const list = useLoad(() => api.page<CertificateView>(`/access/apps/${appId}/ca/certificates?${query(filters, page)}`), [appId, filters, page, revocations]);
  const set = (k: keyof Filters) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  return (
    <>
      <h2>Issued certificates</h2>
      <form
        class="filters" aria-label="Filter certificates" role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setPage(1);
          setFilters(draft);
        }}
      >
        <TextField id="f-principal" label="Principal" value={draft.principal} onInput={set('principal')} />
        <TextField id="f-identity" label="Identity (email)" value={draft.identity} onInput={set('identity')} />
        <TextField id="f-key-id" label="Key ID" value={draft.keyId} onInput={set('keyId')} />
        <SelectField id="f-status" label="Status" value={draft.status} onChange={set('status')} options={STATUSES} />
        <div class="actions">
          <button type="submit">Apply filters</button>
          <button type="button" onClick={() => { setDraft(NONE); setFilters(NONE); setPage(1); }}>Clear</button>
        </div>
      </form>
      {list.loading && !list.data ? <Loading what="certificates" /> : null}
      <ErrorNote error={list.error} />
      {list.data && list.data.items.length === 0 ? <Empty>No certificate matches. Certificates appear here as cert_sign and the API issue them.</Empty> : null}
      {list.data && list.data.items.length > 0 ? (
        <div class="table-wrap">
          <table class="certs">
            <caption class="visually-hidden">Issued certificates</caption>
            <thead>
              <tr><th scope="col">Key ID</th><th scope="col">Identity</th><th scope="col">Principals</th><th scope="col">Valid</th><th scope="col">Status</th><th scope="col">Action</th></tr>
            </thead>
            <tbody>
              {list.data.items.map((c) => (
                <tr key={c.id} data-cert-id={c.id}>
                  <td><code class="wrap">{c.key_id}</code><br /><small>serial {c.serial}</small></td>
                  <td>{c.identity}</td>
                  <td>{c.principals.join(', ')}</td>
                  <td><time dateTime={c.valid_after}>{c.valid_after}</time> to <time dateTime={c.valid_before}>{c.valid_before}</time></td>
                  <td class="cert-status">
                    <span class={`badge ${c.status}`}>{c.status}</span>
                    {c.revoked_at ? <small> since <time dateTime={c.revoked_at}>{c.revoked_at}</time></small> : null}
                    {c.revocation ? <small> ({c.revocation.reason})</small> : null}
                  </td>
                  <td>{c.status === 'revoked' ? '—' : <RevokeForm api={api} appId={appId} certId={c.id} label={c.key_id} onRevoked={() => setRevocations((n) => n + 1)} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <Pager info={list.data?.info} onPage={setPage} label="Certificates" />
      <KrlStatus api={api} appId={appId} refresh={revocations} />
      <RotationPanel api={api} appId={appId} />
    </>
  );
}
