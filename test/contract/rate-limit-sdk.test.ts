import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Cloudflare from 'cloudflare';
import CloudflareV4 from 'cloudflare-v4';
import { makeTestApp, READ, type TestApp } from '../helpers/test-app.ts';

/** Failures allowed a minute: the default, so a 429 says `retry-after: 1`. */
const PER_MINUTE = 60;

/**
 * The SDK's fetch, counting its attempts, and its back-off made visible without reading a watch: the first
 * timer the SDK sets after a 429 is its sleep before the retry (client.js retryRequest → sleep), so that
 * delay is recorded and the server's clock is moved on by exactly as much. A retry succeeds only if the
 * SDK waited as long as the 429 asked.
 */
function backoffProbe(pass: (ms: number) => void) {
  const attempts: { status: number; retryCount: string | null; retryAfter: string | null }[] = [];
  const waits: number[] = [];
  const realSetTimeout = globalThis.setTimeout;
  const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(input, init);
    attempts.push({ status: response.status, retryCount: new Headers(init?.headers).get('x-stainless-retry-count'), retryAfter: response.headers.get('retry-after') });
    if (response.status === 429) {
      globalThis.setTimeout = ((fn: () => void, ms: number) => {
        globalThis.setTimeout = realSetTimeout;
        waits.push(ms);
        pass(ms);
        return realSetTimeout(fn, ms);
      }) as typeof setTimeout;
    }
    return response;
  };
  return { attempts, waits, fetchFn, restore: () => { globalThis.setTimeout = realSetTimeout; } };
}

describe('contract: the official SDK backs off by itself on access-ca\'s 429', () => {
  let t: TestApp;
  let now = Date.now();
  let base: string;
  let accountId: string;
  before(async () => {
    t = await makeTestApp({ clock: { now: () => new Date(now) }, config: { authFailuresPerMinute: PER_MINUTE } });
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}/client/v4`;
    accountId = (await t.tenant()).accountId;
  });
  after(() => t.close());

  /** Uses up the loopback client's allowance on the app's (frozen) clock. */
  async function exhaustLoopback(): Promise<void> {
    for (let i = 0; i < PER_MINUTE; i++) {
      const r = await t.app.inject({ method: 'GET', url: '/client/v4/user/tokens/verify', headers: { authorization: 'Bearer not-a-token' }, remoteAddress: '127.0.0.1' });
      if (r.statusCode === 429) return;
    }
  }

  /** A token that becomes valid a second from now on the server's clock (made on a node whose clock runs ahead). */
  async function tokenValidInOneSecond(): Promise<string> {
    return (await t.identity.createToken({ accountId, permissions: [READ], notBefore: new Date(now + 1000).toISOString() })).value;
  }

  const sdks = {
    v7: (apiToken: string, fetch: unknown) => new Cloudflare({ apiToken, apiEmail: null, apiKey: null, baseURL: base, maxRetries: 2, fetch } as any),
    v4: (apiToken: string, fetch: unknown) => new CloudflareV4({ apiToken, baseURL: base, maxRetries: 2, fetch } as any),
  };

  for (const [name, make] of Object.entries(sdks)) {
    it(`SDK ${name}: a 429 is retried after exactly its retry-after, and the call succeeds`, async () => {
      const token = await tokenValidInOneSecond();
      await exhaustLoopback();
      const probe = backoffProbe((ms) => { now += ms; });
      try {
        const verified = await make(token, probe.fetchFn).user.tokens.verify();
        assert.equal(verified.status, 'active');
      } finally {
        probe.restore();
      }
      assert.deepEqual(probe.attempts, [
        { status: 429, retryCount: '0', retryAfter: '1' },
        { status: 200, retryCount: '1', retryAfter: null },
      ]);
      assert.deepEqual(probe.waits, [1000], 'the SDK slept retry-after × 1000 ms, not its own 0.5 s back-off');
    });
  }

  it('SDK v7: after the wait a bad token gets its real refusal (401), which is not retried', async () => {
    await exhaustLoopback();
    const probe = backoffProbe((ms) => { now += ms; });
    let error: unknown;
    try {
      error = await sdks.v7('still-not-a-token', probe.fetchFn).user.tokens.verify().catch((e: unknown) => e);
    } finally {
      probe.restore();
    }
    assert.ok(error instanceof Cloudflare.AuthenticationError, String(error));
    assert.deepEqual(probe.attempts.map((a) => a.status), [429, 401]);
    assert.deepEqual(probe.waits, [1000]);
  });
});
