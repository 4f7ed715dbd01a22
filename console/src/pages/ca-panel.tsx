import { useState } from 'preact/hooks';
import { ApiFailure, type Api } from '../api.ts';
import type { CaView, KeyStorage, TrustedKeysView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { Link } from '../router.tsx';
import { CopyButton } from '../components/copy-button.tsx';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { ErrorNote, Loading } from '../components/status.tsx';
import { KeyStorageChoice, keyLives, keyStorageBody, keyStorageFailure } from './key-storage-choice.tsx';

/** The lines a server's sshd_config needs, with the files `access-ca sshd-sync --dir /etc/ssh/access-ca` keeps current. */
export const SSHD_CONFIG_SNIPPET = [
  '# /etc/ssh/sshd_config',
  'PubkeyAuthentication yes',
  'TrustedUserCAKeys /etc/ssh/access-ca/trusted_user_ca_keys',
  'RevokedKeys /etc/ssh/access-ca/revoked_keys.krl',
].join('\n');

/**
 * The application's short-lived CA: generate it (sealed in the store or in the PKCS#11 token), copy its
 * public key, the sshd_config lines, delete it.
 */
export function CaPanel(props: { api: Api; appId: string; domain?: string | undefined }) {
  const { api, appId } = props;
  // A 404 is the ordinary "no CA yet", not a failure.
  const ca = useLoad(async () => {
    let view: CaView;
    try {
      view = await api.get<CaView>(`/access/apps/${appId}/ca`);
    } catch (error) {
      if (error instanceof ApiFailure && error.status === 404) return null;
      throw error;
    }
    // Cloudflare's CA object does not say where the key lives; its active key's view does.
    const keys = await api.get<TrustedKeysView>(`/access/apps/${appId}/ca/trusted_keys`).catch(() => undefined);
    const active = keys?.keys.find((k) => k.state === 'active');
    return { ...view, lives: active ? keyLives(active.key_storage) : undefined };
  }, [appId]);
  const [storage, setStorage] = useState<KeyStorage>('sealed');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const refused = keyStorageFailure(error);

  const generate = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.send('POST', `/access/apps/${appId}/ca`, keyStorageBody(storage));
      ca.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="ca-heading" class="card">
      <h2 id="ca-heading">Certificate authority</h2>
      {ca.loading && ca.data === undefined ? <Loading what="the CA" /> : null}
      <ErrorNote error={ca.error} />
      <ErrorNote error={undefined} messages={refused.others} />
      {ca.data === null ? (
        <>
          <p>This application has no CA yet. Generating one makes a key pair whose private half never leaves the server.</p>
          <KeyStorageChoice
            id="ca-key-storage" legend="Where the CA's private key lives" value={storage} defaultValue="sealed" error={refused.beside}
            onChange={(s) => {
              setStorage(s);
              setError(undefined);
            }}
          />
          <button type="button" class="primary" disabled={busy} onClick={generate}>Generate certificate authority</button>
        </>
      ) : null}
      {ca.data ? (
        <>
          <label for="ca-public-key">CA public key</label>
          <textarea id="ca-public-key" class="mono" readOnly rows={3} value={ca.data.public_key} />
          <CopyButton value={ca.data.public_key} label="Copy public key" />
          {ca.data.lives ? <p id="ca-key-lives">Its private key is {ca.data.lives}.</p> : null}
          <h3>sshd_config</h3>
          <p>
            On each server, add these lines and keep both files current with <code>access-ca sshd-sync</code> (see the README).
            During a rotation, trust every key listed under <Link to={`/apps/${appId}/certificates`}>Issued certificates</Link>.
          </p>
          <pre class="mono" id="sshd-snippet" tabIndex={0} aria-label="sshd_config lines">{SSHD_CONFIG_SNIPPET}</pre>
          <CopyButton value={SSHD_CONFIG_SNIPPET} label="Copy sshd_config lines" />
          <h3>Delete the CA</h3>
          <ConfirmButton
            label="Delete CA" confirmLabel="Delete the CA for good"
            warning="Servers that trust this key will refuse every certificate a new CA signs; certificates already issued stay valid where the old key is trusted until they expire."
            onConfirm={async () => {
              await api.send('DELETE', `/access/apps/${appId}/ca`);
              ca.reload();
            }}
          />
        </>
      ) : null}
    </section>
  );
}
