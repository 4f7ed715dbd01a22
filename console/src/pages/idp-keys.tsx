import type { IdpView } from '../api-types.ts';

/** What a key of a JWKS says about itself, as text. */
const describe = (key: Record<string, unknown>, field: string): string => (typeof key[field] === 'string' ? (key[field] as string) : '—');

/**
 * The provider's signing keys. A pasted JWKS is listed key by key; a JWKS URL was fetched and checked by the
 * server when the provider was saved (the API has no endpoint that lists what a URL holds now).
 */
export function IdpKeys(props: { idp: IdpView }) {
  const keys = props.idp.config.jwks?.keys;
  if (!keys) {
    return (
      <div role="status" class="idp-keys">
        <p>
          Keys come from <code class="wrap">{props.idp.config.jwks_url ?? '?'}</code>. The server fetched them and found usable keys when
          this provider was last saved (a save fails otherwise); save it again to check the URL now.
        </p>
      </div>
    );
  }
  return (
    <div role="status" class="idp-keys">
      <p>{keys.length} key(s) found.</p>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Keys of {props.idp.name}</caption>
          <thead><tr><th scope="col">Key ID (kid)</th><th scope="col">Type</th><th scope="col">Algorithm</th><th scope="col">Curve</th><th scope="col">Use</th></tr></thead>
          <tbody>
            {keys.map((k, i) => (
              <tr key={i}><td><code>{describe(k, 'kid')}</code></td><td>{describe(k, 'kty')}</td><td>{describe(k, 'alg')}</td><td>{describe(k, 'crv')}</td><td>{describe(k, 'use')}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
