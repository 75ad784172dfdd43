import type pg from 'pg';
import type { Principal } from '@airlock/contracts';
import { randomToken, sha256 } from '../crypto.js';

export interface ConsoleSession {
  method: 'oidc' | 'saml';
  principal: Principal;
  /** the per-API bearer tokens, as JSON sealed with the session secret */
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
