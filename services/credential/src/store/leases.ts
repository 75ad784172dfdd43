import pg from 'pg';
import { migrate } from '@airlock/runtime';
import type { credentialV1, policyV1 } from '@airlock/contracts';

const migrations = [
  {
    id: '001-leases',
    sql: `CREATE TABLE leases (
            id uuid PRIMARY KEY,
            connection text NOT NULL,
            username text NOT NULL,
            role text NOT NULL,
            mode text NOT NULL,
            subject text NOT NULL,
            holder text NOT NULL,
            session_id text NOT NULL,
            request_id text NOT NULL,
            -- pending: recorded before the credential exists; active; revoking: a revoke failed and is retried;
            -- revoked; irrevocable: retries exhausted, an alert was raised, still retried
            state text NOT NULL CHECK (state IN ('pending', 'active', 'revoking', 'revoked', 'irrevocable')),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL DEFAULT now(),
            revoke_reason text,
            revoke_attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz,
            last_error text,
            revoked_at timestamptz,
            UNIQUE (connection, username))`,
  },
  { id: '002-leases-open-index', sql: `CREATE INDEX leases_open ON leases (state) WHERE state <> 'revoked'` },
  {
    // the signed policy decision a lease was minted for: one decision, one lease, so a captured decision cannot be replayed
    id: '003-leases-decision',
    sql: `ALTER TABLE leases ADD COLUMN decision_id text;
          CREATE UNIQUE INDEX leases_decision ON leases (decision_id)`,
  },
  {
    // upstream sessions opened under a shared credential (External OAuth): revoking the lease ends exactly these
    id: '004-leases-upstream-sessions',
    sql: `ALTER TABLE leases ADD COLUMN upstream_sessions text[] NOT NULL DEFAULT '{}'`,
  },
  {
    // roles created ahead for per-statement leases (leases.pool): a role is in this table until a lease takes it, in
    // the same transaction that records the lease, so every role under the prefix is always one table's or an orphan
    id: '005-pooled-credentials',
    sql: `CREATE TABLE pooled_credentials (
            username text PRIMARY KEY,
            connection text NOT NULL,
            -- the credential service process that made it: it heartbeats it and revokes it at shutdown
            owner text NOT NULL,
            -- creating: recorded before the role exists; ready: the role exists and may be leased
            state text NOT NULL CHECK (state IN ('creating', 'ready')),
            created_at timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now());
          CREATE INDEX pooled_credentials_ready ON pooled_credentials (connection, created_at) WHERE state = 'ready'`,
  },
  {
    // standby: a pooled credential handed to a proxy, which opened an upstream connection under it ahead; it can log
    // in and holds no right until a per-statement lease takes it (the same row becomes that lease)
    id: '006-leases-standby',
    sql: `ALTER TABLE leases DROP CONSTRAINT leases_state_check;
          ALTER TABLE leases ADD CONSTRAINT leases_state_check
            CHECK (state IN ('pending', 'active', 'revoking', 'revoked', 'irrevocable', 'standby'))`,
  },
];

export interface LeaseRow {
  id: string;
  connection: string;
  username: string;
  role: string;
  mode: policyV1.LeaseMode;
  subject: string;
  holder: string;
  session_id: string;
  state: credentialV1.LeaseState | 'pending' | 'standby';
  expires_at: Date;
  revoke_attempts: number;
  upstream_sessions: string[];
}

/** A lease as recorded before its credential exists. */
export type PendingLease = Omit<LeaseRow, 'state' | 'revoke_attempts' | 'upstream_sessions'> & { request_id: string; decision_id: string };

export async function migrateLeases(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'credential', migrations);
}

/** The lease table. Every state change goes through here; rows are locked while a revocation runs so copies never collide. */
export class LeaseStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Records a lease before its credential exists; false when its decision already minted one. */
  async insertPending(row: PendingLease): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `INSERT INTO leases (id, connection, username, role, mode, subject, holder, session_id, request_id, state, expires_at, decision_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11)
       ON CONFLICT (decision_id) DO NOTHING`,
      [row.id, row.connection, row.username, row.role, row.mode, row.subject, row.holder, row.session_id, row.request_id, row.expires_at, row.decision_id],
    );
    return rowCount === 1;
  }

  /**
   * Records a per-statement lease on the oldest ready pooled credential of its connection made less than
   * `maxWaitSeconds` ago, in one statement: the credential leaves the pool exactly when the lease is recorded. The lease
   * is recorded `active` at once (a pooled credential exists already, and can do nothing until `mintPooled` makes it
   * the lease's, so there is no creation to interrupt; a lease whose holder never heartbeats is revoked by the sweep):
   * one write fewer in the statement's path than `insertPending` and `activate`. `left`: the credentials the pool
   * holds after this take, ready or being created. `drained`: the pool has none;
   * `replayed`: the decision already has a lease, with `orphan`, the credential a concurrent replay took in vain, which
   * no table holds any more and the caller revokes.
   */
  async insertFromPool(
    row: Omit<PendingLease, 'username'>,
    maxWaitSeconds: number,
  ): Promise<({ username: string } | { drained: true } | { replayed: true; orphan: string | undefined }) & { left: number }> {
    // the pool's heartbeat locks its rows for a moment, and a take skips locked rows: a take that finds none while
    // the pool holds some tries again shortly, so that a heartbeat does not pass for a drained pool
    for (let attempt = 1; ; attempt++) {
      const taken = await this.#takeFromPool(row, maxWaitSeconds);
      if (!('drained' in taken) || taken.left === 0 || attempt === 3) return taken;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async #takeFromPool(
    row: Omit<PendingLease, 'username'>,
    maxWaitSeconds: number,
  ): Promise<({ username: string } | { drained: true } | { replayed: true; orphan: string | undefined }) & { left: number }> {
    const { rows } = await this.#pool.query<{ taken: string | null; leased: string | null; replay: boolean; held: number }>(
      `WITH taken AS (
         DELETE FROM pooled_credentials WHERE username = (
           SELECT username FROM pooled_credentials
            WHERE connection = $2 AND state = 'ready' AND created_at > now() - make_interval(secs => $11)
              AND NOT EXISTS (SELECT 1 FROM leases WHERE decision_id = $10)
            -- a credential being revoked holds its row lock: skipped, never handed out
            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING username),
       leased AS (
         INSERT INTO leases (id, connection, username, role, mode, subject, holder, session_id, request_id, state, expires_at, decision_id)
         SELECT $1, $2, username, $3, $4, $5, $6, $7, $8, 'active', $9, $10 FROM taken
         ON CONFLICT (decision_id) DO NOTHING RETURNING username)
       SELECT (SELECT username FROM taken) AS taken, (SELECT username FROM leased) AS leased,
              EXISTS (SELECT 1 FROM leases WHERE decision_id = $10) AS replay,
              -- read before the take, as every part of the statement reads
              (SELECT count(*)::int FROM pooled_credentials WHERE connection = $2) AS held`,
      [row.id, row.connection, row.role, row.mode, row.subject, row.holder, row.session_id, row.request_id, row.expires_at, row.decision_id, maxWaitSeconds],
    );
    const r = rows[0]!;
    const left = r.held - (r.taken !== null ? 1 : 0);
    if (r.leased !== null) return { username: r.leased, left };
    if (r.replay || r.taken !== null) return { replayed: true, orphan: r.taken ?? undefined, left };
    return { drained: true, left };
  }

  /**
   * Records the credential made. Committed without waiting for the flush (one message: the parameter is a literal): the
   * lease is durable already as pending, and should a crash of the state database lose this commit, the sweep revokes
   * the pending lease as an interrupted mint, which removes the credential. Failing safe, it need not cost a flush.
   */
  /**
   * Records standby leases on up to `count` of the oldest ready pooled credentials of the connection made less than
   * `maxWaitSeconds` ago, in one statement (each leaves the pool exactly when its lease is recorded), for `holder`,
   * until `expiresAt`; the leases and usernames recorded, and the credentials the pool holds after.
   */
  async insertStandby(
    query: { connection: string; holder: string; count: number; maxWaitSeconds: number; expiresAt: Date },
  ): Promise<{ taken: Array<{ id: string; username: string }>; left: number }> {
    const { rows } = await this.#pool.query<{ id: string | null; username: string | null; held: number }>(
      `WITH taken AS (
         DELETE FROM pooled_credentials WHERE username IN (
           SELECT username FROM pooled_credentials
            WHERE connection = $1 AND state = 'ready' AND created_at > now() - make_interval(secs => $4)
            ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING username),
       leased AS (
         INSERT INTO leases (id, connection, username, role, mode, subject, holder, session_id, request_id, state, expires_at)
         SELECT gen_random_uuid(), $1, username, '', 'statement', '', $2, '', '', 'standby', $5 FROM taken
         RETURNING id, username)
       SELECT l.id, l.username, (SELECT count(*)::int FROM pooled_credentials WHERE connection = $1) AS held
         FROM (SELECT 1) one LEFT JOIN leased l ON true`,
      [query.connection, query.holder, query.count, query.maxWaitSeconds, query.expiresAt],
    );
    const taken = rows.filter((r) => r.id !== null).map((r) => ({ id: r.id!, username: r.username! }));
    return { taken, left: (rows[0]?.held ?? 0) - taken.length };
  }

  /**
   * Turns the holder's standby lease into a statement's lease, in one statement; the username, `gone` when it is no
   * longer standby (revoked, expired, another holder's), `replayed` when the decision already has a lease.
   */
  async takeStandby(standbyId: string, row: Omit<PendingLease, 'username' | 'id'>): Promise<{ username: string } | { gone: true } | { replayed: true }> {
    try {
      const { rows } = await this.#pool.query<{ username: string }>(
        `UPDATE leases SET state = 'active', role = $3, mode = $4, subject = $5, session_id = $6, request_id = $7,
                expires_at = $8, decision_id = $9, heartbeat_at = now(), created_at = now()
          WHERE id = $1 AND holder = $2 AND connection = $10 AND state = 'standby' AND expires_at > now() RETURNING username`,
        [standbyId, row.holder, row.role, row.mode, row.subject, row.session_id, row.request_id, row.expires_at, row.decision_id, row.connection],
      );
      return rows[0] ? { username: rows[0].username } : { gone: true };
    } catch (err) {
      if ((err as { code?: string }).code === '23505') return { replayed: true };
      throw err;
    }
  }

  async activate(id: string): Promise<void> {
    await this.#pool.query(
      `BEGIN; SET LOCAL synchronous_commit = off; ` +
        `UPDATE leases SET state = 'active', heartbeat_at = now() WHERE id = ${pg.escapeLiteral(id)} AND state = 'pending'; COMMIT`,
    );
  }

  /**
   * Records an upstream session opened under a live lease; false when the lease is no longer live. The update waits
   * for a revocation that holds the row: once that commits the lease is revoked and the caller ends the session itself.
   */
  async addUpstreamSession(id: string, sessionId: string): Promise<{ live: boolean; connection: string | undefined }> {
    const { rows } = await this.#pool.query<{ connection: string }>(
      `UPDATE leases SET upstream_sessions = array_append(upstream_sessions, $2)
        WHERE id = $1 AND state IN ('pending', 'active') AND expires_at > now() RETURNING connection`,
      [id, sessionId],
    );
    if (rows[0]) return { live: true, connection: rows[0].connection };
    const lease = await this.get(id);
    return { live: false, connection: lease?.connection };
  }

  async get(id: string): Promise<LeaseRow | undefined> {
    const { rows } = await this.#pool.query<LeaseRow>('SELECT * FROM leases WHERE id = $1', [id]);
    return rows[0];
  }

  /**
   * Runs `work` on the lease while holding its row lock, then records the outcome. Returns undefined when the
   * lease is already revoked, or another copy has been revoking it for longer than the lock wait.
   */
  async withLock<T>(id: string, work: (lease: LeaseRow) => Promise<T>): Promise<T | undefined> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      // The revoked state is committed without waiting for the flush: the credential's removal upstream is durable on
      // its own, and a crash that lost this commit leaves the lease open, so the sweep revokes it again (a role already
      // gone counts as revoked). Revocations then cost the state database no flush of their own.
      await client.query('SET LOCAL synchronous_commit = off');
      // Wait for the row lock rather than skip it: heartbeats and reason updates hold it for milliseconds, and a
      // lease skipped for that reason would stay live until its heartbeats lapse. A copy that waited on another
      // copy's revocation finds the row revoked once that commits, so nothing is revoked twice. A lock held longer
      // than this is another copy's revocation in progress: leave the lease to it (and to the sweeper's retries).
      await client.query(`SET LOCAL lock_timeout = '3s'`);
      let rows: LeaseRow[];
      try {
        ({ rows } = await client.query<LeaseRow>(`SELECT * FROM leases WHERE id = $1 AND state <> 'revoked' FOR UPDATE`, [id]));
      } catch (err) {
        if ((err as { code?: string }).code !== '55P03') throw err;
        rows = [];
      }
      const lease = rows[0];
      if (!lease) {
        await client.query('ROLLBACK');
        return undefined;
      }
      try {
        const result = await work(lease);
        await client.query(`UPDATE leases SET state = 'revoked', revoked_at = now(), revoke_attempts = revoke_attempts + 1, last_error = NULL WHERE id = $1`, [id]);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    } finally {
      client.release();
    }
  }

  async recordFailure(id: string, reason: string, error: string, irrevocableAfter: number): Promise<{ attempts: number; irrevocable: boolean }> {
    const { rows } = await this.#pool.query<{ revoke_attempts: number; state: string }>(
      `UPDATE leases
          SET revoke_attempts = revoke_attempts + 1,
              last_error = $3,
              revoke_reason = COALESCE(revoke_reason, $2),
              state = CASE WHEN revoke_attempts + 1 >= $4 THEN 'irrevocable' ELSE 'revoking' END,
              next_attempt_at = now() + make_interval(secs => LEAST(60, power(2, LEAST(revoke_attempts, 6))::int))
        WHERE id = $1 AND state <> 'revoked'
        RETURNING revoke_attempts, state`,
      [id, reason, error.slice(0, 500), irrevocableAfter],
    );
    const r = rows[0];
    return { attempts: r?.revoke_attempts ?? 0, irrevocable: r?.state === 'irrevocable' };
  }

  async markReason(id: string, reason: string): Promise<void> {
    await this.#pool.query(`UPDATE leases SET revoke_reason = COALESCE(revoke_reason, $2) WHERE id = $1`, [id, reason]);
  }

  /**
   * Leases due for revocation: past their hard expiry (heartbeats never extend it), heartbeat stale, still pending
   * long after a copy began minting (it died between create and record), or a failed revocation whose retry time has come.
   */
  async due(heartbeatGraceSeconds: number, pendingGraceSeconds: number): Promise<Array<{ id: string; reason: string }>> {
    const { rows } = await this.#pool.query<{ id: string; reason: string }>(
      `SELECT id,
              CASE WHEN state IN ('revoking', 'irrevocable') THEN COALESCE(revoke_reason, 'retry')
                   WHEN expires_at <= now() THEN 'expired'
                   WHEN state = 'pending' THEN 'mint-interrupted'
                   ELSE 'heartbeat-lost' END AS reason
         FROM leases
        WHERE (state IN ('active', 'standby') AND (expires_at <= now() OR heartbeat_at < now() - make_interval(secs => $1)))
           OR (state = 'pending' AND created_at < now() - make_interval(secs => $2))
           OR (state IN ('revoking', 'irrevocable') AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
        ORDER BY created_at
        LIMIT 200`,
      [heartbeatGraceSeconds, pendingGraceSeconds],
    );
    return rows;
  }

  async heartbeat(holder: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.#pool.query<{ id: string }>(
      // A lease locked by its revocation (`withLock`: FOR UPDATE, for as long as the revocation runs) is answered
      // unknown: it needs no renewal, and waiting for it would hold every other lease's lock. FOR KEY SHARE conflicts
      // with that lock alone, not with the ones an ordinary UPDATE of the row takes (FOR NO KEY UPDATE: recording an
      // upstream session, a revocation's reason, another heartbeat), which last one statement: the renewal waits for
      // those, where FOR UPDATE SKIP LOCKED answered such a lease unknown and its proxy ended the session as revoked.
      // A statement taking a standby lease writes its decision id, a key, and locks as a revocation does for a moment:
      // the proxy reads an unknown lease it has held anew since as no revocation (`LeaseKeeper`).
      `UPDATE leases SET heartbeat_at = now()
        WHERE id IN (SELECT id FROM leases WHERE id = ANY($1::uuid[]) AND holder = $2 AND state IN ('active', 'standby') FOR KEY SHARE SKIP LOCKED)
        RETURNING id`,
      [ids, holder],
    );
    return rows.map((r) => r.id);
  }

  /** Leases not yet revoked, with no secret (the table holds none), ordered by connection and age. */
  async live(): Promise<credentialV1.LiveLease[]> {
    const { rows } = await this.#pool.query<LeaseRow & { created_at: Date; state: credentialV1.LiveLease['state'] }>(
      `SELECT id, connection, username, role, mode, subject, session_id, state, created_at, expires_at
         FROM leases WHERE state IN ('active', 'revoking', 'irrevocable') ORDER BY connection, created_at`,
    );
    return rows.map((r) => ({
      leaseId: r.id,
      connection: r.connection,
      username: r.username,
      role: r.role,
      mode: r.mode,
      subject: r.subject,
      sessionId: r.session_id,
      state: r.state,
      createdAt: r.created_at.toISOString(),
      expiresAt: r.expires_at.toISOString(),
    }));
  }

  /**
   * Usernames of every lease not yet revoked, whatever its connection, and of every pooled credential: connections on
   * one server (or account) may share a role prefix, and a credential one of them lists is an orphan only when no
   * connection's lease or pool holds it. One statement, so a pooled role leased meanwhile is seen in one table or the other.
   */
  async liveUsernames(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ username: string }>(
      `SELECT username FROM leases WHERE state <> 'revoked' UNION ALL SELECT username FROM pooled_credentials`,
    );
    return new Set(rows.map((r) => r.username));
  }

  async activeLeases(connection: string): Promise<Array<{ id: string; username: string }>> {
    const { rows } = await this.#pool.query<{ id: string; username: string }>(
      `SELECT id, username FROM leases WHERE connection = $1 AND state = 'active'`,
      [connection],
    );
    return rows;
  }

  /** Closes an active lease whose credential is gone; the row, or undefined when it changed meanwhile. */
  async closeMissing(id: string): Promise<LeaseRow | undefined> {
    const { rows } = await this.#pool.query<LeaseRow>(
      `UPDATE leases SET state = 'revoked', revoked_at = now(), revoke_reason = 'credential-missing', revoke_attempts = revoke_attempts + 1
        WHERE id = $1 AND state = 'active' RETURNING *`,
      [id],
    );
    return rows[0];
  }
}
