import { useEffect, useRef } from 'preact/hooks';
import type { Api } from './api.ts';
import type { Session } from './session.ts';
import { Link, usePath } from './router.tsx';
import { AppsPage } from './pages/apps-page.tsx';
import { AppPage } from './pages/app-page.tsx';
import { GroupsPage } from './pages/groups-page.tsx';
import { IdpsPage } from './pages/idps-page.tsx';
import { AuditPage } from './pages/audit-page.tsx';
import { TokensPage } from './pages/tokens-page.tsx';

const NAV = [
  { to: '/', label: 'Applications', match: (p: string) => p === '/' || p.startsWith('/apps') },
  { to: '/groups', label: 'Access groups', match: (p: string) => p.startsWith('/groups') },
  { to: '/identity-providers', label: 'Identity providers', match: (p: string) => p.startsWith('/identity-providers') },
  { to: '/audit', label: 'Audit log', match: (p: string) => p.startsWith('/audit') },
  { to: '/tokens', label: 'API tokens', match: (p: string) => p.startsWith('/tokens') },
];

const APP_PATH = /^\/apps\/([0-9a-fA-F-]{36})(?:\/(access|certificates))?\/?$/;

function Page(props: { path: string; api: Api; session: Session }) {
  const { path, api } = props;
  const app = APP_PATH.exec(path);
  if (app) return <AppPage api={api} appId={app[1]!} tab={(app[2] as 'access' | 'certificates' | undefined) ?? 'settings'} />;
  if (path === '/' || path === '/apps' || path === '/apps/') return <AppsPage api={api} />;
  if (path.startsWith('/groups')) return <GroupsPage api={api} />;
  if (path.startsWith('/identity-providers')) return <IdpsPage api={api} />;
  if (path.startsWith('/audit')) return <AuditPage api={api} />;
  if (path.startsWith('/tokens')) return <TokensPage accountId={props.session.accountId} />;
  return (
    <section>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>The console has no page at this address. <Link to="/">Go to the applications.</Link></p>
    </section>
  );
}

/** The signed-in console: a skip link, the navigation, and the page of the current address. */
export function Shell(props: { api: Api; session: Session; onSignOut(reason?: string): void }) {
  const path = usePath();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // After a navigation, keyboard and screen-reader users start at the new page's heading.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const h1 = main.current?.querySelector('h1');
    if (h1) h1.focus();
  }, [path]);
  return (
    <div class="shell">
      <a class="skip-link" href="#main">Skip to the page</a>
      <header class="top">
        <p class="brand">access-ca</p>
        <nav aria-label="Console">
          <ul>
            {NAV.map((n) => <li key={n.to}><Link to={n.to} current={n.match(path)}>{n.label}</Link></li>)}
          </ul>
        </nav>
        <div class="who">
          <span class="account">Account <code>{props.session.accountId}</code></span>
          <button type="button" onClick={() => props.onSignOut('You are signed out.')}>Sign out</button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page path={path} api={props.api} session={props.session} />
      </main>
    </div>
  );
}
