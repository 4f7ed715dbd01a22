import { useState } from 'preact/hooks';
import type { Api } from '../api.ts';
import type { TrustedKeysView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { CopyButton } from '../components/copy-button.tsx';
import { ErrorNote, Loading, Notice } from '../components/status.tsx';

const STEPS = [
  {
    path: '', label: 'Start a rotation',
    effect: 'Adds a next key. Certificates are still signed by the active key; servers should trust both keys (the file below) before you activate.',
  },
  {
    path: '/activate', label: 'Activate the next key',
    effect: 'New certificates are signed by the new key. The old key stays trusted as "previous", so certificates already issued keep working.',
  },
  {
    path: '/retire', label: 'Retire the previous key',
    effect: 'Removes the old key. Servers that resync stop trusting certificates it signed: wait until they have expired.',
  },
] as const;

/** Where each key's private half lives, in words. */
const KEY_LIVES = { sealed: 'sealed in the store', pkcs11: 'in the PKCS#11 token' } as const;

/** CA key rotation: the keys servers should trust now, and the three steps with what each does to servers. */
export function RotationPanel(props: { api: Api; appId: string }) {
  const { api, appId } = props;
  const trusted = useLoad(() => api.get<TrustedKeysView>(`/access/apps/${appId}/ca/trusted_keys`), [appId]);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);

  const run = async (step: (typeof STEPS)[number]) => {
    setError(undefined);
    setDone(undefined);
    try {
      await api.send('POST', `/access/apps/${appId}/ca/rotate${step.path}`);
      setDone(`${step.label}: done.`);
      trusted.reload();
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section aria-labelledby="rotation-heading" class="card">
      <h2 id="rotation-heading">CA key rotation</h2>
      {trusted.loading && !trusted.data ? <Loading what="the CA keys" /> : null}
      <ErrorNote error={trusted.error ?? error} />
      <Notice text={done} />
      {trusted.data ? (
        <>
          <div class="table-wrap">
            <table>
              <caption>Keys servers should trust now</caption>
              <thead><tr><th scope="col">State</th><th scope="col">Key ID</th><th scope="col">Private key</th><th scope="col">Created</th></tr></thead>
              <tbody>
                {trusted.data.keys.map((k) => <tr key={k.id}><td>{k.state}</td><td><code>{k.id}</code></td><td>{KEY_LIVES[k.key_storage ?? 'sealed']}</td><td>{k.created_at}</td></tr>)}
              </tbody>
            </table>
          </div>
          <label for="trusted-keys-file">TrustedUserCAKeys file</label>
          <textarea id="trusted-keys-file" class="mono" readOnly rows={3} value={trusted.data.trusted_user_ca_keys} />
          <CopyButton value={trusted.data.trusted_user_ca_keys} label="Copy TrustedUserCAKeys file" />
        </>
      ) : null}
      <ol class="steps">
        {STEPS.map((s) => (
          <li key={s.label}>
            <p>{s.effect}</p>
            <button type="button" onClick={() => run(s)}>{s.label}</button>
          </li>
        ))}
      </ol>
    </section>
  );
}
