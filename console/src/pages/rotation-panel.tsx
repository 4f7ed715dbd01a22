import { useState } from 'preact/hooks';
import type { Api } from '../api.ts';
import type { KeyStorage, TrustedKeysView } from '../api-types.ts';
import { useLoad } from '../hooks.ts';
import { CopyButton } from '../components/copy-button.tsx';
import { ErrorNote, Loading, Notice } from '../components/status.tsx';
import { KeyStorageChoice, keyLives, keyStorageBody, keyStorageFailure } from './key-storage-choice.tsx';

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

/**
 * CA key rotation: the keys servers should trust now, and the three steps with what each does to servers.
 * The first step may put the next key elsewhere than the active one (a rotation is how a sealed CA moves
 * into the token); by default it lives where the active key does, as the API does.
 */
export function RotationPanel(props: { api: Api; appId: string }) {
  const { api, appId } = props;
  const trusted = useLoad(() => api.get<TrustedKeysView>(`/access/apps/${appId}/ca/trusted_keys`), [appId]);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  // Undefined until the operator chooses, so the choice follows the active key as the page loads it.
  const [chosen, setChosen] = useState<KeyStorage | undefined>(undefined);
  const active: KeyStorage = trusted.data?.keys.find((k) => k.state === 'active')?.key_storage ?? 'sealed';
  const storage = chosen ?? active;
  const refused = keyStorageFailure(error);

  const run = async (step: (typeof STEPS)[number]) => {
    setError(undefined);
    setDone(undefined);
    try {
      await api.send('POST', `/access/apps/${appId}/ca/rotate${step.path}`, step.path === '' ? keyStorageBody(storage) : undefined);
      setDone(`${step.label}: done.`);
      if (step.path === '') setChosen(undefined);
      trusted.reload();
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section aria-labelledby="rotation-heading" class="card">
      <h2 id="rotation-heading">CA key rotation</h2>
      {trusted.loading && !trusted.data ? <Loading what="the CA keys" /> : null}
      <ErrorNote error={trusted.error} />
      <ErrorNote error={undefined} messages={refused.others} />
      <Notice text={done} />
      {trusted.data ? (
        <>
          <div class="table-wrap">
            <table>
              <caption>Keys servers should trust now</caption>
              <thead><tr><th scope="col">State</th><th scope="col">Key ID</th><th scope="col">Private key</th><th scope="col">Created</th></tr></thead>
              <tbody>
                {trusted.data.keys.map((k) => <tr key={k.id}><td>{k.state}</td><td><code>{k.id}</code></td><td>{keyLives(k.key_storage)}</td><td>{k.created_at}</td></tr>)}
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
            {s.path === '' ? (
              <KeyStorageChoice
                id="rotate-key-storage" legend="Where the next key lives" value={storage} defaultValue={active} error={refused.beside}
                onChange={(v) => {
                  setChosen(v);
                  setError(undefined);
                }}
              />
            ) : null}
            <button type="button" disabled={s.path === '' && trusted.data === undefined} onClick={() => run(s)}>{s.label}</button>
          </li>
        ))}
      </ol>
    </section>
  );
}
