import { useMemo, useState } from 'preact/hooks';
import { createApi } from './api.ts';
import { clearSession, loadSession, saveSession, type Session } from './session.ts';
import { SignInPage } from './pages/sign-in-page.tsx';
import { Shell } from './shell.tsx';

/** The console: the sign-in page until a token is accepted, then the pages it may use. */
export function ConsoleApp() {
  const [session, setSession] = useState<Session | null>(loadSession());
  const [signedOutBecause, setSignedOutBecause] = useState<string | undefined>(undefined);
  const signOut = (reason?: string) => {
    clearSession();
    setSignedOutBecause(reason);
    setSession(null);
  };
  const api = useMemo(() => (session ? createApi(session, () => signOut('The server no longer accepts your API token (revoked or expired): sign in again.')) : null), [session]);
  if (!session || !api) {
    return (
      <SignInPage
        notice={signedOutBecause}
        onSignedIn={(s) => {
          saveSession(s);
          setSignedOutBecause(undefined);
          setSession(s);
        }}
      />
    );
  }
  return (
    <Shell
      api={api}
      session={session}
      onSignOut={signOut}
    />
  );
}
