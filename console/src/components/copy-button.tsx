import { useState } from 'preact/hooks';

/** Copies `value` to the clipboard and says so; where the clipboard is refused, says how to copy by hand. */
export function CopyButton(props: { value: string; label: string }) {
  const [said, setSaid] = useState('');
  return (
    <span class="copy">
      <button
        type="button"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(props.value);
            setSaid('Copied to the clipboard.');
          } catch {
            setSaid('The browser refused the clipboard: select the text and copy it.');
          }
        }}
      >
        {props.label}
      </button>
      <span class="copy-status" role="status" aria-live="polite">{said}</span>
    </span>
  );
}
