import type { Database } from '../platform/db/schema.ts';
import type { ApiError } from '../platform/http/errors.ts';
import type { AuditEntry } from '../platform/audit-events.ts';
import type { RotatedKey, RotationRefusal, RotationStep } from './key-rotation.ts';

type AuditRow = Database['audit_events'];

/** The rotation steps of one account-wide CA (the host CA, the gateway CA), as its store provides them. */
interface RotatingStore<K extends RotatedKey> {
  keysOf(caId: string): Promise<K[]>;
  addNextKey(key: K, event: AuditRow): Promise<RotationStep<object, 'no_ca' | 'next_exists' | 'previous_exists'>>;
  activateNextKey(caId: string, event: (keys: { active: K; previous: K }) => AuditRow): Promise<RotationStep<{ active: K; previous: K }, 'no_ca' | 'no_next'>>;
  retirePreviousKey(caId: string, event: (retired: K) => AuditRow): Promise<RotationStep<{ retired: K }, 'no_ca' | 'no_previous'>>;
}

/**
 * rotate → activate → retire for a CA an account has one of: each step audited as `<kind>.rotated`,
 * `.activated`, `.retired`, refused (409 12136) when the keys are not in the state it needs, and the key
 * it leaves behind returned in `view`'s shape.
 */
export function accountCaRotation<K extends RotatedKey, V>(deps: {
  kind: string;
  store: RotatingStore<K>;
  /** The account's CA, or the 404 that says there is none. */
  existing(accountId: string): Promise<{ id: string }>;
  newKey(ca: { id: string }, accountId: string): K;
  view(key: K): V;
  keyData(key: K): Record<string, unknown>;
  row(entry: AuditEntry): AuditRow;
  refusal(reason: RotationRefusal): ApiError;
}) {
  const { kind, store, refusal } = deps;
  return {
    async rotate(accountId: string, actor: string): Promise<V> {
      const ca = await deps.existing(accountId);
      const keys = await store.keysOf(ca.id);
      if (keys.some((k) => k.state === 'next')) throw refusal('next_exists');
      if (keys.some((k) => k.state === 'previous')) throw refusal('previous_exists');
      const key = deps.newKey(ca, accountId);
      const step = await store.addNextKey(key, deps.row({ accountId, type: `${kind}.rotated`, actor, subject: ca.id, data: deps.keyData(key) }));
      if (!step.ok) throw refusal(step.refused);
      return deps.view(key);
    },
    async activate(accountId: string, actor: string): Promise<V> {
      const ca = await deps.existing(accountId);
      const step = await store.activateNextKey(ca.id, ({ active, previous }) => deps.row({
        accountId, type: `${kind}.activated`, actor, subject: ca.id, data: { ...deps.keyData(active), previous_key_id: previous.id },
      }));
      if (!step.ok) throw refusal(step.refused);
      return deps.view(step.active);
    },
    async retire(accountId: string, actor: string): Promise<{ id: string }> {
      const ca = await deps.existing(accountId);
      const step = await store.retirePreviousKey(ca.id, (retired) => deps.row({ accountId, type: `${kind}.retired`, actor, subject: ca.id, data: deps.keyData(retired) }));
      if (!step.ok) throw refusal(step.refused);
      return { id: step.retired.id };
    },
  };
}
