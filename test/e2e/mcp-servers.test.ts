import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { demoCustomers } from '@airlock/cli';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

// Third-party Postgres MCP servers, installed from the registry at pinned versions and run unchanged from
// node_modules (nothing is fetched at run time): only their connection string points at Airlock's PostgreSQL front
// door, with the agent's token as password.
const serverPostgres = fileURLToPath(import.meta.resolve('@modelcontextprotocol/server-postgres/dist/index.js'));
const dbhub = fileURLToPath(import.meta.resolve('@bytebase/dbhub/dist/index.js'));

const maskedQuery = 'SELECT id, email, phone, card_number, ssn FROM customers WHERE id IN (1, 2) ORDER BY id';
const deniedQuery = "SELECT ssn FROM customers WHERE ssn LIKE '1%'";
const deniedMessage =
  'Airlock refused this statement (rule "guardrail:inference"): filtering on customers.ssn, which is masked for you, is not allowed: ' +
  'it would reveal the masked values. Remove ssn from the WHERE clause, or ask for a group that may see it in clear.';
// partial masking hides letters and digits and keeps separators
const maskPartial = (v: string, keep: number) => v.slice(0, -keep).replace(/[0-9A-Za-z]/g, '*') + v.slice(-keep);


/** Every statement the sessions of `subject` sent, as policy saw them, once each session has closed. */
async function statementsOf(t: TestStack, subject: string, sessions: number): Promise<string[]> {
  const opened = await eventually(async () => {
    const rows = await t.auditRows("event_type = 'proxy.v1.session-opened' AND payload->'principal'->>'subject' = $1", [subject]);
    const ids = rows.map((r) => r.payload.sessionId as string);
    const closed = await t.auditRows("event_type = 'proxy.v1.session-closed' AND payload->>'sessionId' = ANY($1)", [ids]);
    return rows.length === sessions && closed.length === sessions ? rows : undefined;
  }, 15_000, `${sessions} closed sessions of ${subject}`);
  for (const o of opened) assert.equal(o.payload.frontend, 'pgwire');
  const decided = await t.auditRows("event_type = 'policy.v1.decided' AND payload->>'sessionId' = ANY($1)", [opened.map((o) => o.payload.sessionId)]);
  for (const d of decided) assert.equal(d.payload.principal.subject, subject, 'a statement attributed to someone else');
  return decided.map((d) => d.payload.sql as string);
}

interface Running {
  client: Client;
  stderr(): string;
}

async function start(args: string[]): Promise<Running> {
  // the SDK passes the child only a minimal environment (PATH, HOME, …): no Airlock or database variable leaks in
  const transport = new StdioClientTransport({ command: process.execPath, args, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'airlock-e2e', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

const textOf = (r: CallToolResult) => (r.content[0]?.type === 'text' ? r.content[0].text : '');

describe('unchanged third-party Postgres MCP servers through the PostgreSQL front door', () => {
  let t: TestStack;
  const customers = demoCustomers();
  const [c1, c2] = [customers[0]!, customers[1]!];
  const tokens: string[] = [];
  const running: Running[] = [];

  before(async () => {
    t = await startTestStack();
  });
  after(async () => {
    for (const r of running) await r.client.close().catch(() => undefined);
    await t?.close();
  });

  const token = async (subject: string, groups: string[]) => {
    const tk = await t.token({ subject, groups });
    tokens.push(tk);
    return tk;
  };

  describe('@modelcontextprotocol/server-postgres 0.6.2', () => {
    it('returns masked rows for analysts, clear rows for pii-readers', async () => {
      const analyst = await start([serverPostgres, t.pgUrl(await token('pg-analyst', ['analysts']))]);
      running.push(analyst);
      assert.deepEqual((await analyst.client.listTools()).tools.map((x) => x.name), ['query']);
      const masked = (await analyst.client.callTool({ name: 'query', arguments: { sql: maskedQuery } })) as CallToolResult;
      assert.equal(masked.isError, false);
      assert.deepEqual(JSON.parse(textOf(masked)), [
        { id: 1, email: `***@${c1.email.split('@')[1]}`, phone: maskPartial(c1.phone, 4), card_number: maskPartial(c1.card_number, 4), ssn: '[REDACTED]' },
        { id: 2, email: `***@${c2.email.split('@')[1]}`, phone: maskPartial(c2.phone, 4), card_number: maskPartial(c2.card_number, 4), ssn: '[REDACTED]' },
      ]);
      assert.equal(JSON.parse(textOf(masked))[0].email, '***@example.org');

      const reader = await start([serverPostgres, t.pgUrl(await token('pg-reader', ['pii-readers']))]);
      running.push(reader);
      const clear = (await reader.client.callTool({ name: 'query', arguments: { sql: maskedQuery } })) as CallToolResult;
      assert.deepEqual(
        JSON.parse(textOf(clear)),
        [c1, c2].map((c) => ({ id: c.id, email: c.email, phone: c.phone, card_number: c.card_number, ssn: c.ssn })),
      );
      await reader.client.close();
    });

    it('a denied statement comes back as the server’s error carrying Airlock’s message', async () => {
      const { client } = running[0]!;
      await assert.rejects(client.callTool({ name: 'query', arguments: { sql: deniedQuery } }), (err: Error) => {
        assert.equal(err.message, `MCP error -32603: ${deniedMessage}`);
        return true;
      });
    });

    it('its read-only transaction cannot be escaped with stacked statements: Airlock runs one statement per call', async () => {
      const { client } = running[0]!;
      await assert.rejects(client.callTool({ name: 'query', arguments: { sql: 'COMMIT; DELETE FROM orders WHERE id = 3' } }), (err: Error) => {
        assert.match(err.message, /^MCP error -32603: Airlock refused this statement/);
        assert.match(err.message, /one statement/i);
        return true;
      });
      const c = new pg.Client({ connectionString: t.demoUrl });
      await c.connect();
      try {
        assert.deepEqual((await c.query('SELECT id FROM orders WHERE id = 3')).rows, [{ id: 3 }]);
      } finally {
        await c.end();
      }
    });

    it('the audit log attributes every statement to the token’s subject', async () => {
      await running[0]!.client.close();
      assert.deepEqual(await statementsOf(t, 'pg-analyst', 1), [
        'BEGIN TRANSACTION READ ONLY',
        maskedQuery,
        'ROLLBACK',
        'BEGIN TRANSACTION READ ONLY',
        deniedQuery,
        'ROLLBACK',
        'BEGIN TRANSACTION READ ONLY',
        'COMMIT; DELETE FROM orders WHERE id = 3',
        'ROLLBACK',
      ]);
      assert.deepEqual(await statementsOf(t, 'pg-reader', 1), ['BEGIN TRANSACTION READ ONLY', maskedQuery, 'ROLLBACK']);
    });
  });

  describe('@bytebase/dbhub 1.4.0', () => {
    let server: Running;

    before(async () => {
      server = await start([dbhub, '--transport', 'stdio', '--dsn', t.pgUrl(await token('dbhub-analyst', ['analysts']))]);
      running.push(server);
    });

    it('returns masked rows from execute_sql', async () => {
      assert.deepEqual((await server.client.listTools()).tools.map((x) => x.name), ['execute_sql', 'search_objects']);
      const r = (await server.client.callTool({ name: 'execute_sql', arguments: { sql: maskedQuery } })) as CallToolResult;
      assert.equal(r.isError, undefined);
      const body = JSON.parse(textOf(r));
      assert.deepEqual(body, {
        success: true,
        data: {
          statements: [
            {
              sql: maskedQuery,
              rows: [
                { id: 1, email: `***@${c1.email.split('@')[1]}`, phone: maskPartial(c1.phone, 4), card_number: maskPartial(c1.card_number, 4), ssn: '[REDACTED]' },
                { id: 2, email: `***@${c2.email.split('@')[1]}`, phone: maskPartial(c2.phone, 4), card_number: maskPartial(c2.card_number, 4), ssn: '[REDACTED]' },
              ],
              count: 2,
            },
          ],
          source_id: 'default',
        },
      });
    });

    it('a denied statement comes back as the server’s error result carrying Airlock’s message', async () => {
      const r = (await server.client.callTool({ name: 'execute_sql', arguments: { sql: deniedQuery } })) as CallToolResult;
      assert.equal(r.isError, true);
      assert.deepEqual(JSON.parse(textOf(r)), { success: false, error: deniedMessage, code: 'EXECUTION_ERROR' });
    });

    it('the audit log attributes every statement to the token’s subject, and the token stays out of its output', async () => {
      await server.client.close();
      assert.deepEqual(await statementsOf(t, 'dbhub-analyst', 1), [maskedQuery, deniedQuery]);
      assert.ok(!server.stderr().includes(tokens.at(-1)!), 'dbhub printed the token');
    });
  });

  it('no other subject ran a statement, and Airlock logged no token or row value', async () => {
    const opened = await t.auditRows("event_type = 'proxy.v1.session-opened'");
    assert.deepEqual([...new Set(opened.map((o) => o.payload.principal.subject))].sort(), ['dbhub-analyst', 'pg-analyst', 'pg-reader']);
    const decided = await t.auditRows("event_type = 'policy.v1.decided'");
    const subjectOf = new Map(opened.map((o) => [o.payload.sessionId as string, o.payload.principal.subject as string]));
    for (const d of decided) assert.equal(d.payload.principal.subject, subjectOf.get(d.payload.sessionId));
    const logs = t.logs.text();
    for (const tk of tokens) assert.ok(!logs.includes(tk), 'a token was logged');
    assert.ok(!logs.includes(c1.email) && !logs.includes(c1.ssn), 'a row value was logged');
  });
});
