import type { ComponentChildren } from 'preact';

interface Common {
  id: string;
  label: string;
  /** The API's message for this field (from `source.pointer`), shown beside it. */
  error?: string | undefined;
  hint?: string;
  required?: boolean;
}

const describedBy = (p: Common) => [p.hint ? `${p.id}-hint` : '', p.error ? `${p.id}-error` : ''].filter(Boolean).join(' ') || undefined;

function Frame(props: Common & { children: ComponentChildren }) {
  return (
    <div class={props.error ? 'field field-invalid' : 'field'}>
      <label for={props.id}>{props.label}{props.required ? <span aria-hidden="true"> *</span> : null}</label>
      {props.children}
      {props.hint ? <p class="hint" id={`${props.id}-hint`}>{props.hint}</p> : null}
      {props.error ? <p class="field-error" id={`${props.id}-error`}>{props.error}</p> : null}
    </div>
  );
}

/** A labelled one-line input with its hint and the API's message for it. */
export function TextField(props: Common & { value: string; onInput(value: string): void; type?: string; autocomplete?: string; placeholder?: string }) {
  return (
    <Frame {...props}>
      <input
        id={props.id} name={props.id} type={props.type ?? 'text'} value={props.value} required={props.required}
        autocomplete={props.autocomplete ?? 'off'} placeholder={props.placeholder} spellcheck={false}
        aria-invalid={props.error ? 'true' : undefined} aria-describedby={describedBy(props)}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
    </Frame>
  );
}

/** A labelled multi-line input (lists, one item per line). */
export function TextArea(props: Common & { value: string; onInput(value: string): void; rows?: number }) {
  return (
    <Frame {...props}>
      <textarea
        id={props.id} name={props.id} rows={props.rows ?? 3} value={props.value} required={props.required} spellcheck={false}
        aria-invalid={props.error ? 'true' : undefined} aria-describedby={describedBy(props)}
        onInput={(e) => props.onInput((e.currentTarget as HTMLTextAreaElement).value)}
      />
    </Frame>
  );
}

/** A labelled choice among fixed options. */
export function SelectField(props: Common & { value: string; onChange(value: string): void; options: readonly { value: string; label: string }[] }) {
  return (
    <Frame {...props}>
      <select
        id={props.id} name={props.id} value={props.value} aria-invalid={props.error ? 'true' : undefined} aria-describedby={describedBy(props)}
        onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}
      >
        {props.options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    </Frame>
  );
}
