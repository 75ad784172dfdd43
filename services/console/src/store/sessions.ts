import type pg from 'pg';
import type { Principal } from '@airlock/contracts';
import { randomToken, sha256 } from '../crypto.js';

export interface ConsoleSession {
  method: 'oidc' | 'saml';
  principal: Principal;
  bearerSealed: string | null;
  csrf: string;
  expiresAt: Date;
}

/**
 * Sessions live in PostgreSQL so that any copy of the console serves any user and sign-out ends a session
 * everywhere; the cookie holds a random id (signed), the table only its hash.
 */
export class SessionStore {
  readonly #pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Creates a session; returns the id the cookie carries. */
  async create(s: ConsoleSession): Promise<string> {
    const id = randomToken();
    await this.#pool.query('DELETE FROM console_sessions WHERE expires_at < now()');
    await this.#pool.query(
      'INSERT INTO console_sessions (id_hash, method, principal, bearer_sealed, csrf, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [sha256(id), s.method, s.principal, s.bearerSealed, s.csrf, s.expiresAt],
    );
    return id;
  }

  async get(id: string): Promise<ConsoleSession | undefined> {
    const { rows } = await this.#pool.query<{ method: 'oidc' | 'saml'; principal: Principal; bearer_sealed: string | null; csrf: string; expires_at: Date }>(
      'SELECT method, principal, bearer_sealed, csrf, expires_at FROM console_sessions WHERE id_hash = $1 AND expires_at > now()',
      [sha256(id)],
    );
    const r = rows[0];
    return r ? { method: r.method, principal: r.principal, bearerSealed: r.bearer_sealed, csrf: r.csrf, expiresAt: r.expires_at } : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.#pool.query('DELETE FROM console_sessions WHERE id_hash = $1', [sha256(id)]);
  }
}

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
