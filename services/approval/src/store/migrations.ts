import type pg from 'pg';
import { migrate, type Migration } from '@airlock/runtime';

const migrations: readonly Migration[] = [
  {
    id: '001-approval-requests',
    sql: `CREATE TABLE approval_requests (
            id uuid PRIMARY KEY,
            request_id text NOT NULL,
            session_id text NOT NULL,
            subject text NOT NULL,
            issuer text NOT NULL,
            principal jsonb NOT NULL,
            connection text NOT NULL,
            sql text NOT NULL,
            fingerprint text NOT NULL,
            kind text NOT NULL,
            tables text[] NOT NULL,
            rule text,
            approver_groups text[] NOT NULL,
            quorum integer NOT NULL,
            justification text,
            state text NOT NULL CHECK (state IN ('pending', 'granted', 'denied', 'expired', 'cancelled')),
            reason text,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            decided_at timestamptz);
          CREATE INDEX approval_requests_lookup ON approval_requests (subject, issuer, connection, fingerprint, state);`,
  },
  {
    id: '002-votes-grants-outbox',
    sql: `ALTER TABLE approval_requests ADD COLUMN window_seconds integer;
          -- one open request per principal and statement, even when two proxies submit it at once
          CREATE UNIQUE INDEX approval_requests_one_pending ON approval_requests (subject, issuer, connection, fingerprint) WHERE state = 'pending';
          CREATE INDEX approval_requests_due ON approval_requests (expires_at) WHERE state = 'pending';
          CREATE TABLE approval_votes (
            approval_id uuid NOT NULL REFERENCES approval_requests (id),
            subject text NOT NULL,
            issuer text NOT NULL,
            principal jsonb NOT NULL,
            decision text NOT NULL CHECK (decision IN ('approve', 'deny')),
            reason text,
            window_seconds integer,
            created_at timestamptz NOT NULL DEFAULT now(),
            -- one vote per distinct approver: a second vote by the same person never counts
            PRIMARY KEY (approval_id, subject, issuer));
          CREATE TABLE approval_grants (
            id uuid PRIMARY KEY,
            approval_id uuid NOT NULL REFERENCES approval_requests (id),
            kind text NOT NULL CHECK (kind IN ('one-shot', 'window')),
            subject text NOT NULL,
            issuer text NOT NULL,
            connection text NOT NULL,
            fingerprint text NOT NULL,
            statement_kind text NOT NULL,
            tables text[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            used_request_id text);
          CREATE INDEX approval_grants_lookup ON approval_grants (subject, issuer, connection, kind, expires_at);
          CREATE TABLE approval_outbox (
            id bigserial PRIMARY KEY,
            channel text NOT NULL CHECK (channel IN ('bus', 'webhook')),
            topic text NOT NULL,
            target text,
            payload jsonb NOT NULL,
            request_id text,
            traceparent text,
            state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_status integer,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            done_at timestamptz);
          CREATE INDEX approval_outbox_due ON approval_outbox (next_attempt_at) WHERE state = 'pending';
          CREATE TABLE approval_delivery_attempts (
            outbox_id bigint NOT NULL REFERENCES approval_outbox (id),
            attempt integer NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            status integer,
            error text,
            PRIMARY KEY (outbox_id, attempt));`,
  },
  {
    // a one-shot grant binds the bind-parameter values its approvers saw: other values are held again
    id: '003-bound-parameters',
    sql: `ALTER TABLE approval_requests ADD COLUMN params jsonb NOT NULL DEFAULT '[]', ADD COLUMN params_digest text NOT NULL DEFAULT '';
          ALTER TABLE approval_grants ADD COLUMN params_digest text NOT NULL DEFAULT '';
          DROP INDEX approval_requests_one_pending;
          CREATE UNIQUE INDEX approval_requests_one_pending ON approval_requests (subject, issuer, connection, fingerprint, params_digest) WHERE state = 'pending';`,
  },
];

export async function migrateApproval(pool: pg.Pool): Promise<void> {
  await migrate(pool, 'approval', migrations);
}

/** Runs `fn` in one transaction on one client. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
