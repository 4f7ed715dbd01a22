import { useEffect, useRef, useState } from 'preact/hooks';
import { accountsOfToken, ApiFailure, verifySession } from '../api.ts';
import type { Session } from '../session.ts';
import { TextField } from '../components/field.tsx';
import { ErrorNote, Notice } from '../components/status.tsx';

const ACCOUNT_ID = /^[0-9a-f]{32}$/;

/** Why the server refused a sign-in, in words an operator can act on. */
function refusal(error: unknown): string {
  if (error instanceof ApiFailure) {
    if (error.status === 401 || error.status === 403) {
      return 'Sign-in failed: the server does not accept this API token for this account. It may be mistyped, revoked, expired, or made for another account.';
    }
    if (error.status === 429) return 'Sign-in failed: too many failed attempts from this address. Wait a minute and try again.';
    if (error.status === 400) return `Sign-in failed: ${error.message}`;
    return `Sign-in failed: the server answered ${error.status} (${error.message}).`;
  }
  return 'Sign-in failed: the server could not be reached.';
}

/** The one account a token works in, or undefined when it works in none or several. */
async function onlyAccount(token: string): Promise<string | undefined> {
  const ids = await accountsOfToken(token);
  return ids.length === 1 ? ids[0] : undefined;
}

/**
 * Sign-in with an API token and the account it works in. The token is checked against the account at
 * once (tokens/verify) and kept only in this tab's sessionStorage.
 */
export function SignInPage(props: { onSignedIn(session: Session): void; notice?: string | undefined }) {
  const [token, setToken] = useState('');
  const [accountId, setAccountId] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [accountError, setAccountError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const typed = accountId.trim().toLowerCase();
    if (typed !== '' && !ACCOUNT_ID.test(typed)) {
      setAccountError('An account ID is 32 hexadecimal characters (access-ca account list prints it).');
      return;
    }
    setAccountError(undefined);
    setBusy(true);
    try {
      // Left empty, the account is the token's own: an account token works in exactly one.
      const account = typed !== '' ? typed : await onlyAccount(token.trim());
      if (account === undefined) {
        setAccountError('This token works in no single account (a zone token, or a key of several accounts): enter the account ID.');
        return;
      }
      const session = { token: token.trim(), accountId: account };
      await verifySession(session);
      props.onSignedIn(session);
    } catch (failure) {
      setError(refusal(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <h1 tabIndex={-1} ref={heading}>Sign in to the access-ca console</h1>
      <p>
        Use an API token (from <code>access-ca token create</code>). The console keeps it in this tab only and
        sends it to this server's API with every request: it can do exactly what the token may.
      </p>
      <Notice text={props.notice} />
      <form onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined} noValidate>
        <TextField id="account-id" label="Account ID (optional: an account token names its own)" value={accountId} onInput={setAccountId} error={accountError} autocomplete="username" />
        <TextField id="api-token" label="API token" type="password" value={token} onInput={setToken} required autocomplete="current-password" />
        <div id="sign-in-error"><ErrorNote error={undefined} messages={error ? [error] : []} /></div>
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
