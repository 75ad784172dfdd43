import type { Queryable } from './requests.js';

/** A bus event (topic = the event name) or a webhook message (topic = its format, target = its URL). */
export type OutboxItem =
  | { channel: 'bus'; topic: string; payload: Record<string, unknown>; requestId?: string; traceparent?: string }
  | { channel: 'webhook'; topic: 'json' | 'slack'; target: string; payload: Record<string, unknown> };

export interface OutboxRow {
  id: string;
  channel: 'bus' | 'webhook';
  topic: string;
  target: string | null;
  payload: Record<string, unknown>;
  request_id: string | null;
  traceparent: string | null;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
}

/**
 * The durable outbox: written in the same transaction as the state change it announces, delivered afterwards
 * with retries, so a crash between the two loses nothing.
 */
export const outbox = {
  async enqueue(db: Queryable, items: readonly OutboxItem[]): Promise<void> {
    for (const item of items) {
      await db.query(
        `INSERT INTO approval_outbox (channel, topic, target, payload, request_id, traceparent) VALUES ($1, $2, $3, $4, $5, $6)`,
        item.channel === 'bus'
          ? [item.channel, item.topic, null, item.payload, item.requestId ?? null, item.traceparent ?? null]
          : [item.channel, item.topic, item.target, item.payload, null, null],
      );
    }
  },

  /**
   * Claims due rows: counts the attempt and pushes the next attempt out by `leaseSeconds`, so another copy does
   * not deliver the same row while this one is at it. SKIP LOCKED keeps copies from waiting on each other.
   */
  async claim(db: Queryable, limit: number, leaseSeconds: number): Promise<OutboxRow[]> {
    const { rows } = await db.query<OutboxRow>(
      `UPDATE approval_outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
        WHERE id IN (SELECT id FROM approval_outbox WHERE state = 'pending' AND next_attempt_at <= now()
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit, leaseSeconds],
    );
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  },

  async delivered(db: Queryable, row: OutboxRow, status: number | null): Promise<void> {
    await db.query(`UPDATE approval_outbox SET state = 'delivered', done_at = now(), last_status = $2, last_error = NULL WHERE id = $1`, [row.id, status]);
  },

  /** Records a failed attempt: retried after `retryInMs`, or given up (`failed`) when `final`. */
  async failedAttempt(db: Queryable, row: OutboxRow, status: number | null, error: string, retryInMs: number, final: boolean): Promise<void> {
    await db.query(
      `UPDATE approval_outbox SET last_status = $2, last_error = $3,
              state = CASE WHEN $5 THEN 'failed' ELSE 'pending' END,
              done_at = CASE WHEN $5 THEN now() ELSE NULL END,
              next_attempt_at = now() + make_interval(secs => $4::double precision / 1000)
        WHERE id = $1`,
      [row.id, status, error.slice(0, 500), retryInMs, final],
    );
  },

  async recordAttempt(db: Queryable, row: OutboxRow, status: number | null, error: string | null): Promise<void> {
    await db.query(
      `INSERT INTO approval_delivery_attempts (outbox_id, attempt, status, error) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [row.id, row.attempts, status, error?.slice(0, 500) ?? null],
    );
  },
};
