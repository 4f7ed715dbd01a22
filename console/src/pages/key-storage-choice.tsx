import { fieldMessage, messageOf, otherMessages } from '../api.ts';
import type { KeyStorage } from '../api-types.ts';

/** The request field the choice fills, as the API's errors point at it. */
const POINTER = '/key_storage';

/** Each place a CA key may live: the choice's label, the words for a listed key, and what it means. */
export const KEY_STORAGE: Record<KeyStorage, { label: string; lives: string; hint: string }> = {
  sealed: {
    label: 'Sealed in the store',
    lives: 'sealed in the store',
    hint: 'The private key is encrypted under the server\'s master key in its database.',
  },
  pkcs11: {
    label: 'In the PKCS#11 token (HSM)',
    lives: 'in the PKCS#11 token',
    hint: 'The key is made inside the server\'s PKCS#11 token and never leaves it; the server must be started with one.',
  },
};

/** Where a listed key lives, in words; a key view without `key_storage` is sealed. */
export const keyLives = (storage: KeyStorage | undefined): string => KEY_STORAGE[storage ?? 'sealed'].lives;

/**
 * A failed create or rotate, split: the API's message for the key storage goes beside the choice, the rest
 * above (a failure that names no field reads as everywhere else, with the command for a missing permission).
 */
export function keyStorageFailure(error: unknown): { beside: string | undefined; others: string[] } {
  const beside = fieldMessage(error, POINTER);
  if (beside) return { beside, others: otherMessages(error, [POINTER]) };
  return { beside, others: error === undefined || error === null ? [] : [messageOf(error)] };
}

/** A choice of where a new CA key lives, one radio button a place, each with its hint, and the API's message for it. */
export function KeyStorageChoice(props: {
  id: string;
  legend: string;
  value: KeyStorage;
  /** The place the server uses when the request names none; its label says "(default)". */
  defaultValue: KeyStorage;
  onChange(value: KeyStorage): void;
  error?: string | undefined;
}) {
  const { id, error } = props;
  return (
    <fieldset class="key-storage" aria-describedby={error ? `${id}-error` : undefined}>
      <legend>{props.legend}</legend>
      {(Object.keys(KEY_STORAGE) as KeyStorage[]).map((s) => (
        <div class="choice" key={s}>
          <input
            type="radio" id={`${id}-${s}`} name={id} value={s} checked={props.value === s}
            aria-describedby={`${id}-${s}-hint`} aria-invalid={error && props.value === s ? 'true' : undefined}
            onChange={() => props.onChange(s)}
          />
          <label for={`${id}-${s}`}>{KEY_STORAGE[s].label}{s === props.defaultValue ? ' (default)' : ''}</label>
          <p class="hint" id={`${id}-${s}-hint`}>{KEY_STORAGE[s].hint}</p>
        </div>
      ))}
      {error ? <p class="field-error" id={`${id}-error`} role="alert">{error}</p> : null}
    </fieldset>
  );
}

/**
 * The body that asks for `chosen`, always: with no body the server picks (serve --ca-key-storage on a
 * create, the active key's place on a rotation), and what it picks need not be what the operator ticked.
 */
export const keyStorageBody = (chosen: KeyStorage): { key_storage: KeyStorage } => ({ key_storage: chosen });
