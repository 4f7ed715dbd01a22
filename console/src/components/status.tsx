import type { ComponentChildren } from 'preact';
import { messageOf } from '../api.ts';

/** Said while a page waits for the API. */
export function Loading(props: { what: string }) {
  return <p class="loading" role="status">Loading {props.what}…</p>;
}

/** Said when a list has nothing in it, with what to do about it. */
export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/** A failure, announced to screen readers; nothing when there is none. */
export function ErrorNote(props: { error: unknown; messages?: string[] }) {
  const lines = props.messages ?? (props.error === undefined || props.error === null ? [] : [messageOf(props.error)]);
  if (lines.length === 0) return null;
  return (
    <div class="error-note" role="alert">
      {lines.map((m, i) => <p key={i}>{m}</p>)}
    </div>
  );
}

/** A success or progress note, announced politely. */
export function Notice(props: { text: string | undefined }) {
  return <p class="notice" role="status" aria-live="polite">{props.text ?? ''}</p>;
}
