import type { ApiErrorItem, ResultInfo } from './api-types.ts';
import type { Session } from './session.ts';

/** The API's base path, as the server wrote it into the page (it is configurable). */
export function apiBase(): string {
  const meta = document.querySelector('meta[name="access-ca-api-base"]')?.getAttribute('content') ?? '';
  return meta.startsWith('/') ? meta.replace(/\/+$/, '') : '/client/v4';
}

/** A failed call: the HTTP status and the envelope's error items. */
export class ApiFailure extends Error {
  readonly status: number;
  readonly items: ApiErrorItem[];
  /** The account the call was made in, for the command that would make a token that may. */
  readonly accountId: string;
  constructor(status: number, items: ApiErrorItem[], accountId = '') {
    super(items.map((i) => i.message).join('; ') || `The server answered ${status}`);
    this.name = 'ApiFailure';
    this.status = status;
    this.items = items;
    this.accountId = accountId;
  }

  /** The permission groups any one of which would have allowed the call, when the token lacked them (403 9109). */
  missingGroups(): string[] {
    if (this.status !== 403) return [];
    const item = this.items.find((i) => i.code === 9109 && i.message.includes('the token needs one of the permission groups'));
    return item ? [...item.message.matchAll(/"([^"]+)"/g)].map((m) => m[1]!) : [];
  }

  /** The message of the error that names this field (`/name`, `/config/issuer`…), if one does. */
  forField(pointer: string): string | undefined {
    return this.items.find((i) => i.source?.pointer === pointer || i.source?.pointer?.startsWith(`${pointer}/`))?.message;
  }

  /** The messages that name no field the form shows. */
  general(shown: readonly string[]): string[] {
    return this.items
      .filter((i) => !i.source || !shown.some((p) => i.source!.pointer === p || i.source!.pointer.startsWith(`${p}/`)))
      .map((i) => i.message);
  }
}

/** A message a person can act on, for any thrown value. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiFailure) {
    const groups = error.missingGroups();
    if (groups.length === 0) return error.message;
    // What the operator runs on the server's store to get a token that may (the first group named is the one it takes).
    return `Your API token may not do this: it needs the permission group “${groups[0]}”. A token that may: ` +
      `access-ca token create --account ${error.accountId || '<account id>'} --name console --permission "${groups[0]}"`;
  }
  if (error instanceof Error) return `The request failed: ${error.message}`;
  return 'The request failed';
}

export interface Page<T> {
  items: T[];
  info: ResultInfo;
}

/** Calls to the public v4 API with the session's token: the console can do nothing the token cannot. */
export interface Api {
  /** `path` after `/accounts/<id>`. */
  get<T>(path: string): Promise<T>;
  page<T>(path: string): Promise<Page<T>>;
  send<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T>;
  /** A raw GET (the KRL): its status and headers only. */
  head(path: string): Promise<Response>;
}

async function call(session: Session, method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.token}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  let json: any = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok || json?.success === false) {
    const items: ApiErrorItem[] = Array.isArray(json?.errors) ? json.errors : [];
    throw new ApiFailure(res.status, items, session.accountId);
  }
  return { status: res.status, json };
}

const refused = (error: unknown): boolean => error instanceof ApiFailure && (error.status === 401 || error.status === 403);

/**
 * The API of one signed-in session. A 401 or 403 may mean the token lacks one permission, or that the server
 * no longer takes it (revoked, expired): the token is checked again, and only in the second case does
 * `onRejected` sign the tab out rather than leave it failing page after page.
 */
export function createApi(session: Session, onRejected: () => void): Api {
  const scoped = (path: string) => `${apiBase()}/accounts/${encodeURIComponent(session.accountId)}${path}`;
  const run = async (method: string, path: string, body?: unknown) => {
    try {
      return await call(session, method, scoped(path), body);
    } catch (error) {
      if (refused(error)) {
        const stillGood = await verifySession(session).then(() => true, (again: unknown) => !refused(again));
        if (!stillGood) onRejected();
      }
      throw error;
    }
  };
  return {
    async get(path) {
      return (await run('GET', path)).json.result;
    },
    async page(path) {
      const { json } = await run('GET', path);
      return { items: json.result, info: json.result_info };
    },
    async send(method, path, body) {
      return (await run(method, path, body)).json.result;
    },
    async head(path) {
      return fetch(scoped(path), { headers: { authorization: `Bearer ${session.token}` }, credentials: 'omit', cache: 'no-store' });
    },
  };
}

/** The ids of the accounts a token acts on (`GET /accounts`), so sign-in need not ask for one. */
export async function accountsOfToken(token: string): Promise<string[]> {
  const { json } = await call({ token, accountId: '' }, 'GET', `${apiBase()}/accounts?per_page=50`);
  return Array.isArray(json?.result) ? json.result.map((a: { id: string }) => a.id) : [];
}

/** Checks a token against an account before the console keeps it: the sign-in step. */
export async function verifySession(session: Session): Promise<void> {
  await call(session, 'GET', `${apiBase()}/accounts/${encodeURIComponent(session.accountId)}/tokens/verify`);
}

/** Whether a failure is the signed-in token lacking a permission group: the page then hides what would fail too. */
export const lacksPermission = (error: unknown): boolean => error instanceof ApiFailure && error.missingGroups().length > 0;

/** The messages of a failed form that name no field it shows (all of them when the failure is not the API's). */
export function otherMessages(error: unknown, fields: readonly string[]): string[] {
  if (error === undefined || error === null) return [];
  if (error instanceof ApiFailure) return error.general(fields);
  return [messageOf(error)];
}

/** The API's message for one field of a failed form. */
export const fieldMessage = (error: unknown, pointer: string): string | undefined =>
  error instanceof ApiFailure ? error.forField(pointer) : undefined;
