/**
 * Plays the person in a browser: follows redirects with cookies, fills the provider's sign-in and
 * consent forms, and stops when the browser would land on `stopAt` (the CLI's loopback redirect).
 */
export interface PersonOptions {
  login: string;
  /** When the browser reaches a URL this matches, it stops there; `deliver` then decides whether to load it. */
  stopAt?: (url: URL) => boolean;
  deliver?: boolean;
  /** Cancel at the sign-in page instead of signing in. */
  cancel?: boolean;
}

interface Form {
  action: string;
  fields: Record<string, string>;
}

function forms(html: string): Form[] {
  const out: Form[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const action = /action="([^"]*)"/i.exec(m[1]!)?.[1] ?? '';
    const fields: Record<string, string> = {};
    for (const input of m[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[1]!)?.[1];
      if (name) fields[name] = /value="([^"]*)"/i.exec(input[1]!)?.[1] ?? '';
    }
    out.push({ action: action.replace(/&amp;/g, '&'), fields });
  }
  return out;
}

export async function actAsPerson(start: string, opts: PersonOptions): Promise<{ url: URL; html: string }> {
  const jar = new Map<string, string>();
  let url = new URL(start);
  let method = 'GET';
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 40; step++) {
    if (opts.stopAt?.(url)) {
      if (opts.deliver !== false) await fetch(url);
      return { url, html: '' };
    }
    const res = await fetch(url, {
      method, redirect: 'manual', body,
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    const abort = /href="([^"]*\/abort)"/.exec(html)?.[1];
    if (opts.cancel && abort) {
      url = new URL(abort, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    const form = forms(html)[0];
    if (!form) return { url, html };
    const fields = { ...form.fields };
    if ('login' in fields) fields['login'] = opts.login;
    if ('password' in fields) fields['password'] = 'any password';
    url = new URL(form.action, url);
    method = 'POST';
    body = new URLSearchParams(fields);
  }
  throw new Error('the sign-in did not finish in 40 steps');
}
