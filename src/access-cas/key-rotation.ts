import type { Kysely } from 'kysely';
import type { Database, Db } from '../platform/db/schema.ts';
import { errors, type ApiError } from '../platform/http/errors.ts';

type AuditRow = Database['audit_events'];

/** A CA key's part in a rotation: `active` signs; `next` and `previous` are trusted beside it. */
export type CaKeyState = 'active' | 'next' | 'previous';

/** Why a rotation step wrote nothing: the CA is gone, or its keys are not in the state the step needs. */
export type RotationRefusal = 'no_ca' | 'next_exists' | 'previous_exists' | 'no_next' | 'no_previous';

/** The order keys are listed in, and servers are told to trust them. */
export const STATE_ORDER: Record<CaKeyState, number> = { active: 0, next: 1, previous: 2 };

/**
 * The catalog error for a rotation step the CA's keys do not allow; each message names the situation.
 * `ca` names the CA in it ("the CA", "the host CA"); `missing` is the 404 when the CA is gone.
 */
export function rotationRefusal(reason: RotationRefusal, ca = 'the CA', missing: ApiError = errors.notFound()): ApiError {
  switch (reason) {
    case 'no_ca': return missing;
    case 'next_exists': return errors.rotationConflict(`${ca} already has a next key; activate it before rotating again`);
    case 'previous_exists': return errors.rotationConflict(`${ca}'s previous key is not retired yet; retire it before rotating again`);
    case 'no_next': return errors.rotationConflict(`${ca} has no next key to activate; rotate first`);
    case 'no_previous': return errors.rotationConflict(`${ca} has no previous key to retire`);
    default: {
      const unreachable: never = reason;
      return unreachable;
    }
  }
}

/** The outcome of one rotation step: what it changed, or why it changed nothing. */
export type RotationStep<T, R extends RotationRefusal> = ({ ok: true } & T) | { ok: false; refused: R };

/** What every CA key row has, whichever CA it belongs to (an application's user CA, an account's host or gateway CA). */
export interface RotatedKey {
  id: string;
  ca_id: string;
  state: string;
  created_at: string;
}

/** The tables of one kind of CA: its rows and its keys' rows (whose `ca_id` names a CA row). */
export type KeyTables = { cas: 'ssh_cas'; keys: 'ssh_ca_keys' } | { cas: 'host_cas'; keys: 'host_ca_keys' } | { cas: 'gateway_cas'; keys: 'gateway_ca_keys' };

const keyIn = <K extends RotatedKey>(keys: K[], state: CaKeyState) => keys.find((k) => k.state === state);

/**
 * The three rotation steps of a CA with overlap: add a next key, move signing to it, retire the previous
 * one. Each runs with the CA's row locked, so that steps on one CA follow one another on every node: the
 * first statement is a write to that row (a row lock on PostgreSQL, the write lock on SQLite), and the
 * keys are read only after it.
 */
export function keyRotationSteps<K extends RotatedKey>(store: Db, tables: KeyTables) {
  // The two kinds share every column these steps touch; the table names are the only difference.
  const db = store as unknown as Kysely<any>;
  async function withCaLocked<T>(caId: string, step: (trx: Kysely<any>, keys: K[]) => Promise<T>): Promise<T | undefined> {
    return db.transaction().execute(async (trx) => {
      const locked = await trx.updateTable(tables.cas).set((eb) => ({ created_at: eb.ref('created_at') })).where('id', '=', caId).executeTakeFirst();
      if (locked.numUpdatedRows === 0n) return undefined;
      const keys = await trx.selectFrom(tables.keys).selectAll().where('ca_id', '=', caId).orderBy('created_at').orderBy('id').execute() as K[];
      return step(trx, keys);
    });
  }
  return {
    /** Adds `key` (state `next`) with its event, unless a rotation is under way (a next key, or a previous key not yet retired). */
    async addNextKey(key: K, event: AuditRow): Promise<RotationStep<object, 'no_ca' | 'next_exists' | 'previous_exists'>> {
      const step = await withCaLocked(key.ca_id, async (trx, keys): Promise<RotationStep<object, 'next_exists' | 'previous_exists'>> => {
        if (keyIn(keys, 'next')) return { ok: false, refused: 'next_exists' };
        if (keyIn(keys, 'previous')) return { ok: false, refused: 'previous_exists' };
        await trx.insertInto(tables.keys).values({ ...key, state: 'next' }).execute();
        await trx.insertInto('audit_events').values(event).execute();
        return { ok: true };
      });
      return step ?? { ok: false, refused: 'no_ca' };
    },
    /** Moves signing to the next key in one transaction: active → previous, next → active; with its event. */
    async activateNextKey(caId: string, event: (keys: { active: K; previous: K }) => AuditRow): Promise<RotationStep<{ active: K; previous: K }, 'no_ca' | 'no_next'>> {
      const step = await withCaLocked(caId, async (trx, keys): Promise<RotationStep<{ active: K; previous: K }, 'no_next'>> => {
        const next = keyIn(keys, 'next');
        const active = keyIn(keys, 'active');
        // A CA always has an active key (it is made with one and only this step moves it); without a next
        // key there is nothing to move to.
        if (!next || !active) return { ok: false, refused: 'no_next' };
        // Demote first: the partial unique index allows one active key per CA at every statement.
        await trx.updateTable(tables.keys).set({ state: 'previous' }).where('id', '=', active.id).where('state', '=', 'active').execute();
        await trx.updateTable(tables.keys).set({ state: 'active' }).where('id', '=', next.id).where('state', '=', 'next').execute();
        const moved = { active: { ...next, state: 'active' }, previous: { ...active, state: 'previous' } };
        await trx.insertInto('audit_events').values(event(moved)).execute();
        return { ok: true, ...moved };
      });
      return step ?? { ok: false, refused: 'no_ca' };
    },
    /** Deletes the previous key, with its event: servers that drop it refuse what it signed. */
    async retirePreviousKey(caId: string, event: (retired: K) => AuditRow): Promise<RotationStep<{ retired: K }, 'no_ca' | 'no_previous'>> {
      const step = await withCaLocked(caId, async (trx, keys): Promise<RotationStep<{ retired: K }, 'no_previous'>> => {
        const previous = keyIn(keys, 'previous');
        if (!previous) return { ok: false, refused: 'no_previous' };
        await trx.deleteFrom(tables.keys).where('id', '=', previous.id).execute();
        await trx.insertInto('audit_events').values(event(previous)).execute();
        return { ok: true, retired: previous };
      });
      return step ?? { ok: false, refused: 'no_ca' };
    },
  };
}
