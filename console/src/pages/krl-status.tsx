import type { Api } from '../api.ts';
import { useLoad } from '../hooks.ts';
import { ErrorNote, Loading } from '../components/status.tsx';

interface KrlState {
  version: string;
  changedAt: string | null;
  size: number;
}

/** The KRL's header: "SSHKRL\n\0", a uint32 format version, then the uint64 KRL version and generated date. */
function generatedDate(bytes: ArrayBuffer): string | null {
  if (bytes.byteLength < 28) return null;
  const seconds = new DataView(bytes).getBigUint64(20);
  return seconds === 0n ? null : new Date(Number(seconds) * 1000).toISOString();
}

/** The revocation list servers fetch: its version and when it last changed. */
export function KrlStatus(props: { api: Api; appId: string; refresh: number }) {
  const krl = useLoad<KrlState>(async () => {
    const res = await props.api.head(`/access/apps/${props.appId}/ca/krl`);
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const bytes = await res.arrayBuffer();
    return { version: res.headers.get('x-krl-version') ?? '?', changedAt: generatedDate(bytes), size: bytes.byteLength };
  }, [props.appId, props.refresh]);
  return (
    <section aria-labelledby="krl-heading" class="card">
      <h2 id="krl-heading">Revocation list (KRL)</h2>
      {krl.loading && !krl.data ? <Loading what="the KRL" /> : null}
      <ErrorNote error={krl.error} />
      {krl.data ? (
        <dl class="facts">
          <div><dt>KRL version</dt><dd id="krl-version">{krl.data.version}</dd></div>
          <div><dt>Last changed</dt><dd>{krl.data.changedAt ? <time dateTime={krl.data.changedAt}>{krl.data.changedAt}</time> : 'never (nothing revoked)'}</dd></div>
          <div><dt>Size</dt><dd>{krl.data.size} bytes</dd></div>
        </dl>
      ) : null}
      <p>Servers running <code>access-ca sshd-sync</code> fetch it and refuse revoked certificates at the next login.</p>
    </section>
  );
}
