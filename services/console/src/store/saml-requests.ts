import type pg from 'pg';

/** node-saml's cache of AuthnRequest ids, kept in PostgreSQL for every copy of the console (its own is per process). */
export class SamlRequestCache {
  readonly #pool: pg.Pool;
  readonly #ttlMs: number;
  constructor(pool: pg.Pool, ttlMs: number) {
    this.#pool = pool;
    this.#ttlMs = ttlMs;
  }

  async saveAsync(key: string, value: string): Promise<{ value: string; createdAt: number } | null> {
    await this.#pool.query(`DELETE FROM console_saml_requests WHERE created_at < now() - make_interval(secs => $1)`, [this.#ttlMs / 1000]);
    const { rowCount } = await this.#pool.query('INSERT INTO console_saml_requests (request_id) VALUES ($1) ON CONFLICT DO NOTHING', [key]);
    return rowCount === 1 ? { value, createdAt: Date.now() } : null;
  }

  async getAsync(key: string): Promise<string | null> {
    const { rows } = await this.#pool.query<{ created_at: Date }>(
      `SELECT created_at FROM console_saml_requests WHERE request_id = $1 AND created_at > now() - make_interval(secs => $2)`,
      [key, this.#ttlMs / 1000],
    );
    return rows[0] ? rows[0].created_at.toISOString() : null;
  }

  async removeAsync(key: string | null): Promise<string | null> {
    if (key === null) return null;
    const { rowCount } = await this.#pool.query('DELETE FROM console_saml_requests WHERE request_id = $1', [key]);
    return rowCount === 1 ? key : null;
  }
}
