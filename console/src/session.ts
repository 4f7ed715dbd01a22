/** What the console knows about who is signed in: an API token and the account it works in. */
export interface Session {
  token: string;
  accountId: string;
}

// sessionStorage: gone when the tab closes, never sent anywhere by the browser (no cookie, no CSRF surface).
const KEY = 'access-ca.session';

/** The session this tab signed in with, if any. */
export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<Session>;
    return typeof value.token === 'string' && typeof value.accountId === 'string' ? { token: value.token, accountId: value.accountId } : null;
  } catch {
    return null;
  }
}

/** Keeps the session for this tab only. */
export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

/** Forgets the session (sign-out, or a token the server no longer takes). */
export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
