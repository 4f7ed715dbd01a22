import { useState } from 'preact/hooks';
import { ErrorNote } from './status.tsx';

/**
 * A destructive action behind a second, explicit click: the first shows what will happen and the
 * confirm and cancel buttons, in the page (no browser dialog); a refusal is shown beside it.
 */
export function ConfirmButton(props: { label: string; confirmLabel: string; warning: string; onConfirm(): Promise<void> | void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  if (!asking) {
    return (
      <div>
        <button type="button" class="danger" disabled={props.disabled} onClick={() => setAsking(true)}>{props.label}</button>
        <ErrorNote error={error} />
      </div>
    );
  }
  return (
    <div class="confirm" role="group" aria-label={props.label}>
      <p>{props.warning}</p>
      <button
        type="button" class="danger" disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            await props.onConfirm();
          } catch (failure) {
            setError(failure);
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        {props.confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>Cancel</button>
    </div>
  );
}
