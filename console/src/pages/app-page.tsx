import type { Api } from '../api.ts';
import type { AppView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { Link, navigate } from '../router.tsx';
import { ErrorNote, Loading } from '../components/status.tsx';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { AppForm } from './app-form.tsx';
import { CaPanel } from './ca-panel.tsx';
import { CertPolicyForm } from './cert-policy-form.tsx';
import { AccessPanel } from './access-panel.tsx';
import { CertificatesPanel } from './certificates-panel.tsx';

type Tab = 'settings' | 'access' | 'certificates';
const TABS: { tab: Tab; label: string; suffix: string }[] = [
  { tab: 'settings', label: 'Settings and CA', suffix: '' },
  { tab: 'access', label: 'Who may get a certificate', suffix: '/access' },
  { tab: 'certificates', label: 'Issued certificates', suffix: '/certificates' },
];

/** One application: its settings, CA and certificate policy; who may get a certificate; what was issued. */
export function AppPage(props: { api: Api; appId: string; tab: Tab }) {
  const { api, appId, tab } = props;
  const app = useLoad(() => api.get<AppView>(`/access/apps/${appId}`), [appId]);
  if (app.loading && !app.data) return <Loading what="the application" />;
  if (!app.data) {
    return (
      <section>
        <h1 tabIndex={-1}>Application</h1>
        <ErrorNote error={app.error} />
        <p><Link to="/">Back to the applications</Link></p>
      </section>
    );
  }
  const a = app.data;
  return (
    <section>
      <p class="crumbs"><Link to="/">Applications</Link> / <span>{a.name}</span></p>
      <h1 tabIndex={-1}>{a.name}</h1>
      <dl class="facts">
        <div><dt>Application ID</dt><dd><code>{a.id}</code></dd></div>
        <div><dt>Audience (aud)</dt><dd><code class="wrap">{a.aud}</code></dd></div>
        <div><dt>Domain</dt><dd>{a.domain ?? '—'}</dd></div>
      </dl>
      <nav class="tabs" aria-label="Application sections">
        <ul>
          {TABS.map((t) => <li key={t.tab}><Link to={`/apps/${a.id}${t.suffix}`} current={t.tab === tab}>{t.label}</Link></li>)}
        </ul>
      </nav>
      {tab === 'settings' ? (
        <>
          <h2>Settings</h2>
          <AppForm key={a.updated_at} api={api} app={a} onSaved={() => app.reload()} />
          <CaPanel api={api} appId={a.id} domain={a.domain} />
          <CertPolicyForm api={api} appId={a.id} />
          <h2>Delete the application</h2>
          <ConfirmButton
            label="Delete application" confirmLabel="Delete it for good"
            warning={`Deleting “${a.name}” removes its CA and policies; servers that trust its CA keep trusting certificates already issued until they expire.`}
            onConfirm={async () => {
              await api.send('DELETE', `/access/apps/${a.id}`);
              navigate('/');
            }}
          />
        </>
      ) : null}
      {tab === 'access' ? <AccessPanel api={api} app={a} onChanged={() => app.reload()} /> : null}
      {tab === 'certificates' ? <CertificatesPanel api={api} appId={a.id} /> : null}
    </section>
  );
}
