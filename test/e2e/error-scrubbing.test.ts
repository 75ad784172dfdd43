// Errors tell what went wrong, never what the data is: an upstream error of a statement that read masked columns
// reaches the client and the audit log as its SQLSTATE and a fixed message; others pass through, with content
// detectors over their text. Through the PostgreSQL front door with the real `pg` client, simple and extended protocol.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { demoCustomers } from '@airlock/cli';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

const customers = demoCustomers();
const noted = customers.find((c) => c.notes?.includes('paid with card'))!;
const noteDigits = noted.notes!.replace(/\D/g, '');

async function failedEvents(t: TestStack): Promise<Array<Record<string, unknown>>> {
  const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
  await c.connect();
  try {
    const { rows } = await c.query<{ payload: Record<string, unknown> }>(
      "SELECT payload FROM audit_events WHERE event_type = 'proxy.v1.query-failed' ORDER BY seq",
    );
    return rows.map((r) => r.payload);
  } finally {
    await c.end();
  }
}

/** Every sensitive value of the demo, whole and by its digit runs of six or more. */
function sensitive(): string[] {
  const out = new Set<string>();
  for (const c of customers) {
    for (const v of [c.email, c.phone, c.card_number, c.ssn, c.name]) {
      out.add(v);
      for (const run of v.match(/\d{6,}/g) ?? []) out.add(run);
    }
  }
  return [...out];
}

function assertClean(text: string, what: string): void {
  for (const v of sensitive()) assert.ok(!text.includes(v), `${what} holds a demo value: ${text}`);
  assert.ok(!text.replace(/\D/g, '').includes(noteDigits), `${what} holds the card number from the notes: ${text}`);
}

describe('upstream error text never carries data (PostgreSQL front door)', () => {
  let t: TestStack;
  let client: pg.Client;

  before(async () => {
    t = await startTestStack();
    const token = await t.token({ subject: 'agent-errors', groups: ['analysts'] });
    client = new pg.Client({ connectionString: t.pgUrl(token) });
    await client.connect();
  });
  after(async () => {
    await client?.end().catch(() => undefined);
    await t?.close();
  });

  async function error(sql: string, values?: unknown[]): Promise<{ code: string; message: string; hint?: string; detail?: string }> {
    try {
      await (values ? client.query({ text: sql, values }) : client.query(sql));
    } catch (err) {
      const e = err as { code: string; message: string; hint?: string; detail?: string };
      return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), ...(e.detail ? { detail: e.detail } : {}) };
    }
    throw new Error(`${sql} succeeded but should have failed upstream`);
  }

  const scrubbedCases: Array<{ name: string; sql: string; values?: unknown[]; sqlState: string }> = [
    { name: 'a failing cast beside a masked output column', sql: 'SELECT ssn, name::int FROM customers WHERE id = 1', sqlState: '22P02' },
    { name: 'the same, extended protocol with a parameter', sql: 'SELECT email, name::int FROM customers WHERE id = $1', values: [2], sqlState: '22P02' },
    { name: 'a failing cast of free text beside a masked column', sql: `SELECT card_number, notes::int FROM customers WHERE id = ${noted.id}`, sqlState: '22P02' },
    { name: 'a failing date conversion beside a masked column', sql: 'SELECT phone, name::date FROM customers WHERE id = 3', sqlState: '22007' },
    { name: 'a failing numeric conversion beside a masked column', sql: 'SELECT ssn, name::numeric FROM customers WHERE id = 4', sqlState: '22P02' },
    { name: 'a failing json parse beside a masked column', sql: 'SELECT email, name::json FROM customers WHERE id = 5', sqlState: '22P02' },
  ];

  for (const c of scrubbedCases) {
    it(`answers only the SQLSTATE and a fixed message: ${c.name}`, async () => {
      const e = await error(c.sql, c.values);
      assert.equal(e.code, c.sqlState);
      assert.match(e.message, /^a value could not be converted or computed \(data exception\) \(SQLSTATE 22[0-9A-Z]{3}\)\. The statement reads columns that are masked for you/);
      assert.equal(e.hint, undefined);
      assert.equal(e.detail, undefined);
      assertClean(JSON.stringify(e), 'the client error');
    });
  }

  it('passes the database message through when nothing masked is read, with content detectors over it', async () => {
    const plain = await error('SELECT name::int FROM customers WHERE id = 1');
    assert.equal(plain.code, '22P02');
    assert.equal(plain.message, `invalid input syntax for type integer: "${customers[0]!.name}"`);

    const free = await error(`SELECT notes::int FROM customers WHERE id = ${noted.id}`);
    assert.equal(free.code, '22P02');
    assert.match(free.message, /^invalid input syntax for type integer: "Called support; paid with card /);
    assert.ok(!free.message.replace(/\D/g, '').includes(noteDigits), `the card number in the notes reached the client: ${free.message}`);
  });

  it('stores the same scrubbed message in the audit log, never the upstream text', async () => {
    const events = await eventually(
      async () => {
        const all = await failedEvents(t);
        return all.length >= scrubbedCases.length + 2 ? all : undefined;
      },
      15_000,
      'the query-failed events',
    );
    const scrubbedEvents = events.filter((e) => String(e['message']).includes('masked for you'));
    assert.equal(scrubbedEvents.length, scrubbedCases.length);
    for (const e of scrubbedEvents) {
      assert.equal(e['code'], 'proxy.upstream_error');
      assertClean(String(e['message']), 'a query-failed event');
    }
    // the pass-through events keep the database's words (a name is not masked), never the card in the notes
    for (const e of events) assert.ok(!String(e['message']).replace(/\D/g, '').includes(noteDigits), 'an event holds the card number from the notes');
  });

  it('reads string literals the way the analyser does, whatever defaults the database sets', async () => {
    // a DBA (or an attacker with DDL elsewhere) turns standard_conforming_strings off for the database: the upstream
    // session of a new lease must still read 'a\b' as three characters (with the setting off, `\b` is a backspace: two),
    // as libpg-query does
    const admin = new pg.Client({ connectionString: t.demoUrl });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${pg.Client.prototype.escapeIdentifier(t.demoDb)} SET standard_conforming_strings = off`);
      await admin.query(`ALTER DATABASE ${pg.Client.prototype.escapeIdentifier(t.demoDb)} SET backslash_quote = on`);
    } finally {
      await admin.end();
    }
    const token = await t.token({ subject: 'agent-pinned', groups: ['analysts'] });
    const fresh = new pg.Client({ connectionString: t.pgUrl(token) });
    await fresh.connect();
    try {
      const { rows } = await fresh.query(String.raw`SELECT length('a\b') AS n FROM orders WHERE id = 1`);
      assert.deepEqual(rows, [{ n: 3 }]);
    } finally {
      await fresh.end();
    }
  });

  it('keeps the session usable after each refusal', async () => {
    const { rows } = await client.query('SELECT id, ssn FROM customers WHERE id = 1');
    assert.deepEqual(rows, [{ id: 1, ssn: '[REDACTED]' }]);
  });
});
