import pg from 'pg';

/** Creates the database named in `url` if it does not exist, connecting to the server's `postgres` database. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error('database name must be letters, digits and underscores');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } catch (err) {
        // another process created it first
        if ((err as { code?: string }).code !== '42P04' && (err as { code?: string }).code !== '23505') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

export interface Migration {
  id: string;
  sql: string;
}

/** Applies each migration once, in order, under an advisory lock so several copies can start together. */
export async function migrate(pool: pg.Pool, component: string, migrations: readonly Migration[]): Promise<void> {
  // a service that runs as its own role (no DDL) finds its schema applied by the owner (`airlock migrate`) and stops here
  if (await applied(pool, component, migrations)) return;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`airlock-migrate-${component}`]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS airlock_migrations (component text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, id))',
    );
    const { rows } = await client.query<{ id: string }>('SELECT id FROM airlock_migrations WHERE component = $1', [component]);
    const done = new Set(rows.map((r) => r.id));
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO airlock_migrations (component, id) VALUES ($1, $2)', [component, m.id]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`airlock-migrate-${component}`]).catch(() => undefined);
    client.release();
  }
}

/** Whether every migration of `component` is recorded: read-only, so a role without DDL rights can ask. */
async function applied(pool: pg.Pool, component: string, migrations: readonly Migration[]): Promise<boolean> {
  const { rows: table } = await pool.query<{ t: string | null }>("SELECT to_regclass('airlock_migrations')::text AS t");
  if (!table[0]?.t) return false;
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM airlock_migrations WHERE component = $1', [component]);
  const done = new Set(rows.map((r) => r.id));
  return migrations.every((m) => done.has(m.id));
}
