import type { Database, Db } from '../platform/db/schema.ts';

export type JoinTokenRow = Database['host_join_tokens'];
export type EnrollmentRow = Database['host_enrollments'];
type AuditRow = Database['audit_events'];

/** An enrolled host with what its credential may act on: its target's names. */
export interface EnrolledHost extends EnrollmentRow {
  hostname: string;
  host: string;
  aliases: string;
}

/** Hosts whose last sighting one statement records. */
const TOUCH_CHUNK = 30;

/** Persistence of join tokens and enrolled hosts. */
export interface HostEnrollmentStore {
  insertJoinToken(row: JoinTokenRow, event: AuditRow): Promise<void>;
  joinTokenBySecret(sha256: string): Promise<JoinTokenRow | undefined>;
  /** Hands out a challenge for a token still usable at `now`; false when it is not. */
  setChallenge(id: string, challenge: string, challengeExpiresAt: string, now: string): Promise<boolean>;
  /**
   * Uses the token and enrolls the host in one transaction: the token is marked used only if it is still
   * unused, unexpired and was last given this challenge, which has not expired; false (nothing written) otherwise.
   */
  enroll(tokenId: string, challenge: string, now: string, enrollment: EnrollmentRow, event: AuditRow): Promise<boolean>;
  /** A target's join tokens, newest first (at most 100: they expire within a day). */
  joinTokens(accountId: string, targetId: string): Promise<JoinTokenRow[]>;
  /** Withdraws a join token with its event; false when the account's target has no such token. */
  deleteJoinToken(accountId: string, targetId: string, id: string, event: AuditRow): Promise<boolean>;
  bySecret(sha256: string): Promise<EnrolledHost | undefined>;
  list(accountId: string, targetId: string | undefined, offset: number, limit: number): Promise<{ rows: EnrolledHost[]; total: number }>;
  /** Removes an enrolled host with its event; false when the account has no such host. */
  remove(accountId: string, id: string, event: AuditRow): Promise<boolean>;
  /** Records when hosts were last seen; a later time only (several nodes write). */
  touch(seen: Map<string, string>): Promise<void>;
}

/** The Kysely implementation, shared by SQLite and PostgreSQL. */
export function createHostEnrollmentStore(db: Db): HostEnrollmentStore {
  const enrolled = () => db.selectFrom('host_enrollments')
    .innerJoin('infrastructure_targets', 'infrastructure_targets.id', 'host_enrollments.target_id')
    .selectAll('host_enrollments')
    .select(['infrastructure_targets.hostname', 'infrastructure_targets.host', 'infrastructure_targets.aliases']);
  return {
    async insertJoinToken(row, event) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('host_join_tokens').values(row).execute();
        await trx.insertInto('audit_events').values(event).execute();
      });
    },
    joinTokenBySecret: (sha256) => db.selectFrom('host_join_tokens').selectAll().where('secret_sha256', '=', sha256).executeTakeFirst(),
    async setChallenge(id, challenge, challengeExpiresAt, now) {
      const r = await db.updateTable('host_join_tokens').set({ challenge, challenge_expires_at: challengeExpiresAt })
        .where('id', '=', id).where('used_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async enroll(tokenId, challenge, now, enrollment, event) {
      return db.transaction().execute(async (trx) => {
        const used = await trx.updateTable('host_join_tokens').set({ used_at: now })
          .where('id', '=', tokenId).where('used_at', 'is', null).where('expires_at', '>', now)
          .where('challenge', '=', challenge).where('challenge_expires_at', '>', now).executeTakeFirst();
        if (Number(used.numUpdatedRows) !== 1) return false;
        await trx.insertInto('host_enrollments').values(enrollment).execute();
        await trx.insertInto('audit_events').values(event).execute();
        return true;
      });
    },
    joinTokens: (accountId, targetId) => db.selectFrom('host_join_tokens').selectAll().where('account_id', '=', accountId).where('target_id', '=', targetId)
      .orderBy('created_at', 'desc').orderBy('id').limit(100).execute(),
    async deleteJoinToken(accountId, targetId, id, event) {
      return db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('host_join_tokens').where('account_id', '=', accountId).where('target_id', '=', targetId).where('id', '=', id).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await trx.insertInto('audit_events').values(event).execute();
        return true;
      });
    },
    bySecret: (sha256) => enrolled().where('host_enrollments.secret_sha256', '=', sha256).executeTakeFirst(),
    async list(accountId, targetId, offset, limit) {
      let q = enrolled().where('host_enrollments.account_id', '=', accountId);
      let c = db.selectFrom('host_enrollments').where('account_id', '=', accountId);
      if (targetId !== undefined) {
        q = q.where('host_enrollments.target_id', '=', targetId);
        c = c.where('target_id', '=', targetId);
      }
      const [rows, count] = await Promise.all([
        q.orderBy('host_enrollments.created_at').orderBy('host_enrollments.id').limit(limit).offset(offset).execute(),
        c.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst(),
      ]);
      return { rows, total: Number(count?.n ?? 0) };
    },
    async remove(accountId, id, event) {
      return db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('host_enrollments').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await trx.insertInto('audit_events').values(event).execute();
        return true;
      });
    },
    async touch(seen) {
      if (seen.size === 0) return;
      // One statement per time and 30 hosts (a bounded number of statement shapes), in id order: two nodes
      // flushing overlapping hosts then lock rows in one order, and cannot deadlock.
      const byTime = new Map<string, string[]>();
      for (const [id, at] of seen) byTime.set(at, [...(byTime.get(at) ?? []), id]);
      await db.transaction().execute(async (trx) => {
        for (const [at, ids] of [...byTime].sort(([a], [b]) => (a < b ? -1 : 1))) {
          ids.sort();
          for (let i = 0; i < ids.length; i += TOUCH_CHUNK) {
            await trx.updateTable('host_enrollments').set({ last_seen_at: at }).where('id', 'in', ids.slice(i, i + TOUCH_CHUNK))
              .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', at)])).execute();
          }
        }
      });
    },
  };
}
