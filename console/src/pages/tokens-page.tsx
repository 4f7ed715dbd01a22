const GROUPS = [
  'Access: Apps and Policies Write',
  'Access: Apps and Policies Read',
  'Access: Organizations, Identity Providers, and Groups Write',
  'Access: Organizations, Identity Providers, and Groups Read',
  'Access: SSH Certificates Sign',
];

/**
 * API tokens. The v4 API has no token routes yet (tokens are made on the server with the CLI), so this page
 * says how, with the permission groups a token can hold, until the API offers create, list and revoke.
 */
export function TokensPage(props: { accountId: string }) {
  const create = `access-ca token create --account ${props.accountId} --permission 'Access: Apps and Policies Read'`;
  return (
    <section>
      <h1 tabIndex={-1}>API tokens</h1>
      <p class="lead">
        This server's API does not manage tokens yet, so the console cannot create or revoke them. On the server,
        the <code>access-ca</code> command does: a new token's value is printed once, and only its hash is kept.
      </p>
      <h2>Create a token</h2>
      <pre class="mono" tabIndex={0} aria-label="Command that creates a token">{create}</pre>
      <p>Repeat <code>--permission</code> for each permission group the token should hold:</p>
      <ul>{GROUPS.map((g) => <li key={g}><code>{g}</code></li>)}</ul>
      <h2>List and revoke</h2>
      <pre class="mono" tabIndex={0} aria-label="Commands that list and revoke tokens">{`access-ca token list --account ${props.accountId}\naccess-ca token revoke <token id>`}</pre>
      <p>A revoked token stops working at once, on every node; a console signed in with it is signed out at its next request.</p>
    </section>
  );
}
