import type pg from 'pg';

/**
 * The pooled credentials table (see migration `005-pooled-credentials`). A row is written before its role is created
 * and deleted in the statement that records the lease taking it, or after its role was revoked: reconciliation,
 * which reads this table with the leases, never sees a pooled role as an orphan, nor a role it lost track of as pooled.
 */
export class PoolStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Records credentials about to be created, as many of `usernames` as the connection lacks to hold `size` (ready or
   * being created); the names recorded, none when it is full. Copies of the service top up one at a time per
   * connection (a transaction lock), so the pool never grows past `size` whichever copy refills it.
   */
  async reserve(connection: string, usernames: readonly string[], owner: string, size: number): Promise<string[]> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`airlock-pool:${connection}`]);
      const { rows } = await client.query<{ username: string }>(
        `INSERT INTO pooled_credentials (username, connection, owner, state)
         SELECT u, $2, $3, 'creating' FROM unnest($1::text[]) WITH ORDINALITY AS n(u, i)
          WHERE i <= $4 - (SELECT count(*) FROM pooled_credentials WHERE connection = $2)
         RETURNING username`,
        [usernames, connection, owner, size],
      );
      await client.query('COMMIT');
      return rows.map((r) => r.username);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Marks created credentials ready; the names whose row is gone (another copy took this one for dead and withdrew
   * them), whose roles are no one's.
   */
  async ready(usernames: readonly string[]): Promise<string[]> {
    const { rows } = await this.#pool.query<{ username: string }>(
      `UPDATE pooled_credentials SET state = 'ready', heartbeat_at = now() WHERE username = ANY($1::text[]) RETURNING username`,
      [usernames],
    );
    const marked = new Set(rows.map((r) => r.username));
    return usernames.filter((u) => !marked.has(u));
  }

  /** How many credentials the connection's pool holds, ready or being created. */
  async count(connection: string): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pooled_credentials WHERE connection = $1', [connection]);
    return rows[0]!.n;
  }

  /** Renews the heartbeat of the owner's credentials: a copy that stops renewing has died, and others revoke them. */
  async heartbeat(owner: string): Promise<void> {
    await this.#pool.query(`UPDATE pooled_credentials SET heartbeat_at = now() WHERE owner = $1`, [owner]);
  }

  /**
   * Credentials to revoke: of the connection, ready and older than `maxWaitSeconds`; of any owner whose heartbeat is
   * older than `graceSeconds` (a copy that died, its rows in either state); or all of `owner`'s (shutdown).
   */
  async due(query: { connection: string; maxWaitSeconds: number } | { graceSeconds: number } | { owner: string }): Promise<Array<{ username: string; connection: string }>> {
    const [where, args] =
      'owner' in query
        ? ['owner = $1', [query.owner]]
        : 'graceSeconds' in query
          ? ['heartbeat_at < now() - make_interval(secs => $1)', [query.graceSeconds]]
          : [`connection = $1 AND state = 'ready' AND created_at <= now() - make_interval(secs => $2)`, [query.connection, query.maxWaitSeconds]];
    const { rows } = await this.#pool.query<{ username: string; connection: string }>(
      `SELECT username, connection FROM pooled_credentials WHERE ${where} ORDER BY created_at`,
      args,
    );
    return rows;
  }

  /**
   * Runs `revoke` on a pooled credential under its row lock, then deletes the row; false when a lease took it or
   * another copy is revoking it (the row is gone or locked). A failed `revoke` keeps the row for the next attempt.
   */
  async withdraw(username: string, revoke: () => Promise<unknown>): Promise<boolean> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const { rowCount } = await client.query('SELECT 1 FROM pooled_credentials WHERE username = $1 FOR UPDATE SKIP LOCKED', [username]);
      if (rowCount === 0) {
        await client.query('ROLLBACK');
        return false;
      }
      await revoke();
      await client.query('DELETE FROM pooled_credentials WHERE username = $1', [username]);
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}
