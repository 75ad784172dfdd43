import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { demoCustomers } from '@airlock/cli';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

/** A port that was free a moment ago: the endpoint's resource URL must name the port it listens on. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, args: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
// partial masking hides letters and digits and keeps separators, so a masked phone keeps its shape
const maskPartial = (v: string, keep: number) => v.slice(0, -keep).replace(/[0-9A-Za-z]/g, '*') + v.slice(-keep);

describe('Airlock MCP endpoint (Streamable HTTP, OAuth protected resource)', () => {
  let t: TestStack;
  let port: number;
  let resource: string;
  let metadataUrl: string;
  let analyst: string;
  let reader: string;
  let auditor: string;
  const clients: Client[] = [];
  const customers = demoCustomers();

  async function connect(token: string): Promise<Client> {
    const client = new Client({ name: 'airlock-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    clients.push(client);
    return client;
  }

  const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult;

  before(async () => {
    port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    metadataUrl = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;
    t = await startTestStack({
      env: { AIRLOCK_HTTP_PORT: String(port) },
      configure: (c) => {
        c['identity']['issuers'][0]['audiences'].push(resource);
        c['mcp'] = { resource, maxRows: 20 };
      },
    });
    analyst = await t.token({ subject: 'mcp-analyst', groups: ['analysts'], audience: resource });
    reader = await t.token({ subject: 'mcp-reader', groups: ['pii-readers'], audience: resource });
    auditor = await t.token({ subject: 'mcp-auditor', groups: ['auditors'], audience: resource });
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await t?.close();
  });

  it('lists its six tools, each with input and output schemas', async () => {
    const client = await connect(analyst);
    const { tools } = await client.listTools();
    assert.deepEqual(
      tools.map((x) => x.name),
      ['list_connections', 'list_tables', 'describe_table', 'query', 'request_access', 'approval_status'],
    );
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, 'object');
      assert.equal(tool.outputSchema?.type, 'object');
    }
    assert.deepEqual(tools.find((x) => x.name === 'query')!.inputSchema.required, ['connection', 'sql']);
    assert.deepEqual(client.getServerVersion(), { name: 'airlock', title: 'Airlock', version: '0.1.0' });
  });

  it('list_connections shows only connections whose rules apply to the caller', async () => {
    const expected = {
      connections: [
        {
          name: 'demo',
          type: 'postgres',
          rules: [
            { rule: 'orders-writes-need-dba', decision: 'approval', kinds: ['insert', 'update', 'delete'], tables: ['orders'], approvers: ['dba'] },
            { rule: 'analysts-read', decision: 'allow', kinds: ['select'], tables: ['customers', 'orders'], approvers: [] },
          ],
        },
      ],
    };
    const a = await call(await connect(analyst), 'list_connections');
    assert.equal(a.isError, undefined);
    assert.deepEqual(a.structuredContent, expected);
    assert.equal(a.content[0]!.type === 'text' && a.content[0].text, 'You may use one connection: demo (postgres).');
    assert.deepEqual((await call(await connect(reader), 'list_connections')).structuredContent, expected);
    const none = await call(await connect(auditor), 'list_connections');
    assert.deepEqual(none.structuredContent, { connections: [] });
    assert.equal(none.content[0]!.type === 'text' && none.content[0].text, 'No connection is open to your groups; ask an operator for access.');
  });

  it('list_tables lists the tables policy lets the caller read', async () => {
    const expected = {
      connection: 'demo',
      tables: [
        { schema: 'public', table: 'customers', access: 'read' },
        { schema: 'public', table: 'orders', access: 'read' },
      ],
    };
    assert.deepEqual((await call(await connect(analyst), 'list_tables', { connection: 'demo' })).structuredContent, expected);
    assert.deepEqual((await call(await connect(reader), 'list_tables', { connection: 'demo' })).structuredContent, expected);
    assert.deepEqual((await call(await connect(auditor), 'list_tables', { connection: 'demo' })).structuredContent, { connection: 'demo', tables: [] });
    const unknown = await call(await connect(analyst), 'list_tables', { connection: 'nowhere' });
    assert.equal(unknown.isError, true);
    assert.equal(
      text(unknown),
      'connection "nowhere" is not configured in Airlock; use the name of a configured connection\ncode: policy.unknown_connection\n' +
        'next: call list_connections for the connections you may use',
    );
  });

  it('describe_table says which columns are masked for the caller, and how', async () => {
    const masked = (rule: string, column: string) => `masking rule '${rule}' on public.customers.${column}`;
    const a = await call(await connect(analyst), 'describe_table', { connection: 'demo', table: 'customers' });
    assert.deepEqual(a.structuredContent, {
      connection: 'demo',
      schema: 'public',
      table: 'customers',
      columns: [
        { name: 'id', masked: false, mask: null, reason: null },
        { name: 'name', masked: false, mask: null, reason: null },
        { name: 'email', masked: true, mask: { kind: 'email' }, reason: masked('customer-email', 'email') },
        { name: 'phone', masked: true, mask: { kind: 'partial', keep: 4 }, reason: masked('customer-phone', 'phone') },
        { name: 'card_number', masked: true, mask: { kind: 'partial', keep: 4 }, reason: masked('customer-card', 'card_number') },
        { name: 'ssn', masked: true, mask: { kind: 'redact' }, reason: masked('customer-ssn', 'ssn') },
        { name: 'notes', masked: false, mask: null, reason: null },
      ],
      detectors: ['email', 'card', 'ssn', 'iban', 'phone', 'ip'],
      inference: 'deny',
    });
    assert.equal(
      a.content[0]!.type === 'text' && a.content[0].text,
      [
        'public.customers on demo:',
        '- id: clear',
        '- name: clear',
        '- email: masked: the local part is hidden, the domain shown',
        '- phone: masked: all but the last 4 characters hidden',
        '- card_number: masked: all but the last 4 characters hidden',
        '- ssn: masked: replaced by [REDACTED]',
        '- notes: clear',
      ].join('\n'),
    );
    const r = await call(await connect(reader), 'describe_table', { connection: 'demo', table: 'public.customers' });
    const columns = (r.structuredContent as { columns: Array<{ name: string; masked: boolean; mask: unknown }> }).columns;
    assert.deepEqual(
      columns.map((c) => [c.name, c.masked, c.mask]),
      ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'].map((n) => [n, false, null]),
    );
    const missing = await call(await connect(analyst), 'describe_table', { connection: 'demo', table: 'payroll' });
    assert.equal(missing.isError, true);
    assert.equal(text(missing), 'connection "demo" has no table "payroll"\ncode: proxy.unknown_table\nnext: call list_tables for the tables you may read');
    const refused = await call(await connect(auditor), 'describe_table', { connection: 'demo', table: 'customers' });
    assert.equal(refused.isError, true);
    assert.match(text(refused), /^Airlock refused this statement: no policy allows SELECT on public\.customers for your groups \(auditors\); ask an operator for access\ncode: policy\.no_rule\n/);
  });

  it('query returns rows masked for analysts and clear for pii-readers, as structured content and text', async () => {
    const sql = 'SELECT id, email, phone, card_number, ssn FROM customers WHERE id IN (1, 2) ORDER BY id';
    const [c1, c2] = [customers[0]!, customers[1]!];
    const a = await call(await connect(analyst), 'query', { connection: 'demo', sql });
    assert.equal(a.isError, undefined);
    const expected = {
      status: 'completed',
      columns: ['id', 'email', 'phone', 'card_number', 'ssn'],
      rows: [c1, c2].map((c) => [String(c.id), `***@${c.email.split('@')[1]}`, maskPartial(c.phone, 4), maskPartial(c.card_number, 4), '[REDACTED]']),
      rowCount: 2,
      truncated: false,
      command: 'SELECT 2',
      approval: null,
    };
    assert.deepEqual(a.structuredContent, expected);
    assert.deepEqual(
      a.content.map((c) => (c.type === 'text' ? c.text : c.type)),
      ['2 rows from demo.', JSON.stringify(expected)],
    );
    const r = await call(await connect(reader), 'query', { connection: 'demo', sql });
    assert.deepEqual((r.structuredContent as { rows: unknown }).rows, [c1, c2].map((c) => [String(c.id), c.email, c.phone, c.card_number, c.ssn]));
  });

  it('query stops at the row limit, caps it by config, and says the result was truncated', async () => {
    const client = await connect(analyst);
    const five = await call(client, 'query', { connection: 'demo', sql: 'SELECT id FROM customers ORDER BY id', maxRows: 5 });
    assert.deepEqual(five.structuredContent, {
      status: 'completed',
      columns: ['id'],
      rows: [['1'], ['2'], ['3'], ['4'], ['5']],
      rowCount: 5,
      truncated: true,
      command: null,
      approval: null,
    });
    assert.equal(
      five.content[0]!.type === 'text' && five.content[0].text,
      '5 rows from demo. The result has more rows: only the first 5 are returned; add a LIMIT or a filter, or ask for up to 20 with maxRows.',
    );
    const capped = await call(client, 'query', { connection: 'demo', sql: 'SELECT id FROM customers ORDER BY id', maxRows: 500 });
    const out = capped.structuredContent as { rows: string[][]; rowCount: number; truncated: boolean };
    assert.deepEqual([out.rowCount, out.truncated, out.rows.at(-1)], [20, true, ['20']]);
    assert.equal(
      capped.content[0]!.type === 'text' && capped.content[0].text,
      '20 rows from demo. The result has more rows: only the first 20 are returned; add a LIMIT or a filter. maxRows is capped at 20.',
    );
    const exact = await call(client, 'query', { connection: 'demo', sql: 'SELECT id FROM customers WHERE id <= 3 ORDER BY id', maxRows: 3 });
    assert.deepEqual([(exact.structuredContent as { truncated: boolean }).truncated, (exact.structuredContent as { command: string }).command], [false, 'SELECT 3']);
  });

  it('a denied query is an error result naming the code, the rule and what to do next', async () => {
    const r = await call(await connect(analyst), 'query', { connection: 'demo', sql: "SELECT ssn FROM customers WHERE ssn LIKE '1%'" });
    assert.equal(r.isError, true);
    const lines = text(r).split('\n');
    assert.deepEqual(lines.slice(0, 4), [
      'Airlock refused this statement (rule "guardrail:inference"): filtering on customers.ssn, which is masked for you, is not allowed: ' +
        'it would reveal the masked values. Remove ssn from the WHERE clause, or ask for a group that may see it in clear.',
      'code: policy.inference_on_masked_column',
      'rule: guardrail:inference',
      'next: do not filter, join, group or order on masked columns (describe_table lists them); select them, or filter on an unmasked column',
    ]);
    assert.match(lines[4]!, /^request id: [0-9a-f-]{36}$/);
    const bad = await call(await connect(analyst), 'query', { connection: 'demo', sql: 'SELEC 1' });
    assert.equal(bad.isError, true);
    assert.match(text(bad), /\ncode: policy\.parse_error\nnext: fix the SQL: Airlock parses every statement before it runs\n/);
    const args = await call(await connect(analyst), 'query', { connection: 'demo' });
    assert.equal(args.isError, true);
    assert.match(text(args), /^the input of query does not match its schema: .*sql.*\ncode: runtime\.invalid_request$/);
  });

  it('a statement held for approval answers "pending" with the request id, and does not run', async () => {
    const client = await connect(analyst);
    const r = await call(client, 'query', { connection: 'demo', sql: 'DELETE FROM orders WHERE id = 1', justification: 'duplicate order' });
    assert.equal(r.isError, undefined);
    const out = r.structuredContent as { status: string; approval: { approvalId: string; state: string; expiresAt: string; rule: string; next: string } };
    assert.equal(out.status, 'pending');
    assert.match(out.approval.approvalId, uuid);
    const id = out.approval.approvalId;
    assert.deepEqual(out, {
      status: 'pending',
      columns: [],
      rows: [],
      rowCount: 0,
      truncated: false,
      command: null,
      approval: {
        approvalId: id,
        state: 'pending',
        expiresAt: out.approval.expiresAt,
        rule: 'orders-writes-need-dba',
        next: `call approval_status with approvalId ${id}; once it is granted, send the same statement again with query`,
      },
    });
    assert.ok(Date.parse(out.approval.expiresAt) > Date.now());
    assert.deepEqual(await query(t.demoUrl, 'SELECT id FROM orders WHERE id = 1'), [{ id: 1 }]);

    const status = await call(client, 'approval_status', { approvalId: out.approval.approvalId });
    assert.deepEqual(status.structuredContent, {
      approvalId: out.approval.approvalId,
      state: 'pending',
      expiresAt: out.approval.expiresAt,
      approvals: 0,
      quorum: 1,
      reason: null,
      next: 'wait for an approver, then call approval_status again',
    });
    const unknown = await call(client, 'approval_status', { approvalId: '00000000-0000-4000-8000-000000000000' });
    assert.equal(unknown.isError, true);
    assert.match(text(unknown), /\ncode: approval\.not_found\nnext: use an approval id that request_access or query returned$/);

    const requested = await eventually(async () => {
      const rows = await query<{ payload: any }>(databaseUrl(t.stateDb), "SELECT payload FROM audit_events WHERE event_type = 'approval.v1.requested' AND payload->>'approvalId' = $1", [
        out.approval.approvalId,
      ]);
      return rows[0]?.payload;
    });
    assert.equal(requested.principal.subject, 'mcp-analyst');
    assert.equal(requested.justification, 'duplicate order');
    assert.deepEqual(requested.approverGroups, ['dba']);
  });

  it('approval_status answers only the requester and the approvers: to anyone else the request does not exist', async () => {
    const requester = await connect(analyst);
    const r = await call(requester, 'request_access', { connection: 'demo', sql: 'DELETE FROM orders WHERE id = 3', justification: 'customer 3 asked for erasure' });
    const id = (r.structuredContent as { approvalId: string }).approvalId;
    assert.match(id, uuid);
    const visible = {
      approvalId: id,
      state: 'pending',
      expiresAt: (r.structuredContent as { expiresAt: string }).expiresAt,
      approvals: 0,
      quorum: 1,
      reason: null,
      next: 'wait for an approver, then call approval_status again',
    };
    assert.deepEqual((await call(requester, 'approval_status', { approvalId: id })).structuredContent, visible);
    const dba = await connect(await t.token({ subject: 'mcp-dba', groups: ['dba'], audience: resource }));
    assert.deepEqual((await call(dba, 'approval_status', { approvalId: id })).structuredContent, visible);

    // another analyst, and an auditor: the same answer as for an id that never existed
    const unknownId = '00000000-0000-4000-8000-000000000001';
    for (const token of [await t.token({ subject: 'mcp-nosy', groups: ['analysts'], audience: resource }), auditor]) {
      const nosy = await connect(token);
      const hidden = await call(nosy, 'approval_status', { approvalId: id });
      const unknown = await call(nosy, 'approval_status', { approvalId: unknownId });
      assert.equal(hidden.isError, true);
      assert.equal(hidden.structuredContent, undefined);
      assert.equal(text(hidden), text(unknown).replace(unknownId, id));
      // the id is echoed back, and a random id may spell one of these words (`…-fdba-…`): matched without it
      assert.doesNotMatch(text(hidden).replace(id, '<id>'), /pending|erasure|dba|mcp-analyst/);
    }
  });

  it('request_access submits an approval request with the justification, and says who approves and how', async () => {
    const client = await connect(analyst);
    const r = await call(client, 'request_access', {
      connection: 'demo',
      sql: 'UPDATE orders SET total = 0 WHERE id = 2',
      justification: 'refund agreed with the customer',
    });
    assert.equal(r.isError, undefined);
    const out = r.structuredContent as Record<string, any>;
    assert.match(out['approvalId'], uuid);
    const id = out['approvalId'] as string;
    const next =
      `a member of dba must approve it: \`npx airlock approvals approve ${id}\`, with \`--for 1h\` for a time window; ` +
      'call approval_status to follow it, and once it is granted send the statement with query';
    assert.deepEqual(out, {
      state: 'pending',
      approvalId: id,
      connection: 'demo',
      rule: 'orders-writes-need-dba',
      approverGroups: ['dba'],
      quorum: 1,
      expiresAt: out['expiresAt'],
      next,
    });
    const requested = await eventually(async () => {
      const rows = await query<{ payload: any }>(databaseUrl(t.stateDb), "SELECT payload FROM audit_events WHERE event_type = 'approval.v1.requested' AND payload->>'approvalId' = $1", [id]);
      return rows[0]?.payload;
    });
    assert.deepEqual(
      [requested.principal.subject, requested.justification, requested.sql, requested.rule],
      ['mcp-analyst', 'refund agreed with the customer', 'UPDATE orders SET total = 0 WHERE id = 2', 'orders-writes-need-dba'],
    );

    const free = await call(client, 'request_access', { connection: 'demo', sql: 'SELECT id FROM orders', justification: 'reporting' });
    assert.deepEqual(free.structuredContent, {
      state: 'not_required',
      approvalId: null,
      connection: 'demo',
      rule: 'analysts-read',
      approverGroups: [],
      quorum: 0,
      expiresAt: null,
      next: 'policy lets you run this statement now: send it with query',
    });
    const ddl = await call(client, 'request_access', { connection: 'demo', sql: 'DROP TABLE orders', justification: 'cleanup' });
    assert.equal(ddl.isError, true);
    assert.equal(
      text(ddl).split('\n').slice(0, 4).join('\n'),
      'Airlock refused this statement (rule "refuse-ddl"): DDL and GRANT are not allowed through Airlock; ask a DBA to make schema changes\n' +
        'code: policy.denied\nrule: refuse-ddl\n' +
        'next: this statement is refused by policy whatever you do; change it, or ask an operator for access',
    );
  });

  it('records every tool call that touches a connection as an MCP session of the caller', async () => {
    const sessions = await eventually(async () => {
      const rows = await query<{ payload: any }>(databaseUrl(t.stateDb), "SELECT payload FROM audit_events WHERE event_type = 'proxy.v1.session-opened' ORDER BY seq");
      return rows.length >= 10 ? rows.map((r) => r.payload) : undefined;
    });
    assert.deepEqual([...new Set(sessions.map((s) => s.frontend))], ['mcp']);
    assert.deepEqual([...new Set(sessions.map((s) => s.principal.subject))].sort(), ['mcp-analyst', 'mcp-auditor', 'mcp-reader']);
    const completed = await query<{ n: string }>(
      databaseUrl(t.stateDb),
      `SELECT count(*) AS n FROM audit_events c JOIN audit_events o ON o.event_type = 'proxy.v1.session-opened' AND o.payload->>'sessionId' = c.payload->>'sessionId'
        WHERE c.event_type = 'proxy.v1.query-completed' AND o.payload->'principal'->>'subject' NOT LIKE 'mcp-%'`,
    );
    assert.equal(completed[0]!.n, '0');
    // leases end with the tool call
    await eventually(async () => {
      const rows = await query<{ n: string }>(databaseUrl(t.stateDb), "SELECT count(*) AS n FROM audit_events WHERE event_type = 'credential.v1.issued'");
      const revoked = await query<{ n: string }>(databaseUrl(t.stateDb), "SELECT count(*) AS n FROM audit_events WHERE event_type = 'credential.v1.revoked'");
      return Number(rows[0]!.n) > 0 && rows[0]!.n === revoked[0]!.n ? true : undefined;
    });
  });

  describe('HTTP: authorization and origin', () => {
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fetch', version: '1' } },
    });
    const post = (headers: Record<string, string>) =>
      fetch(resource, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: initialize });

    it('no token: 401 with the resource metadata challenge', async () => {
      const res = await post({});
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), `Bearer resource_metadata="${metadataUrl}"`);
      assert.deepEqual(await res.json(), { code: 'identity.missing_token', message: `send a bearer token issued for ${resource} in the Authorization header` });
      const basic = await post({ authorization: 'Basic YWdlbnQ6c2VjcmV0' });
      assert.equal(basic.status, 401);
      assert.equal(basic.headers.get('www-authenticate'), `Bearer resource_metadata="${metadataUrl}"`);
    });

    it('an expired token: 401 invalid_token', async () => {
      const expired = await t.token({ subject: 'mcp-analyst', groups: ['analysts'], audience: resource, ttlSeconds: -120 });
      const res = await post({ authorization: `Bearer ${expired}` });
      assert.equal(res.status, 401);
      assert.equal(
        res.headers.get('www-authenticate'),
        `Bearer resource_metadata="${metadataUrl}", error="invalid_token", error_description="the token has expired; get a fresh token and connect again"`,
      );
      assert.deepEqual(await res.json(), { code: 'identity.expired_token', message: 'the token has expired; get a fresh token and connect again' });
    });

    it('a token for another audience: 401, even one this issuer mints for Airlock itself', async () => {
      for (const audience of ['airlock', 'http://127.0.0.1:8080/mcp']) {
        const other = await t.token({ subject: 'mcp-analyst', groups: ['analysts'], audience });
        const res = await post({ authorization: `Bearer ${other}` });
        assert.equal(res.status, 401, audience);
        assert.equal(
          res.headers.get('www-authenticate'),
          `Bearer resource_metadata="${metadataUrl}", error="invalid_token", error_description="the MCP endpoint takes tokens issued for audience ${resource}, and this token was issued for another; request a token for ${resource}"`,
        );
        assert.equal(((await res.json()) as { code: string }).code, 'identity.audience_mismatch');
      }
    });

    it('a foreign Origin: 403; the endpoint’s own origin passes', async () => {
      const bad = await post({ authorization: `Bearer ${analyst}`, origin: 'http://evil.example' });
      assert.equal(bad.status, 403);
      assert.deepEqual(await bad.json(), { code: 'identity.forbidden', message: 'requests from this Origin are not accepted; use an MCP client or an allowed origin' });
      const own = await post({ authorization: `Bearer ${analyst}`, origin: `http://127.0.0.1:${port}` });
      assert.equal(own.status, 200);
      assert.equal(own.headers.get('access-control-allow-origin'), `http://127.0.0.1:${port}`);
      const body = (await own.json()) as { result: { serverInfo: { name: string } } };
      assert.equal(body.result.serverInfo.name, 'airlock');
    });

    it('GET and DELETE are not offered by this stateless endpoint', async () => {
      for (const method of ['GET', 'DELETE']) {
        const res = await fetch(resource, { method, headers: { authorization: `Bearer ${analyst}`, accept: 'text/event-stream' } });
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get('allow'), 'POST');
      }
    });

    it('serves the protected resource metadata at the root and path forms', async () => {
      const expected = {
        resource,
        authorization_servers: ['http://127.0.0.1:8083/dev'],
        bearer_methods_supported: ['header'],
        resource_name: 'Airlock',
      };
      for (const url of [`http://127.0.0.1:${port}/.well-known/oauth-protected-resource`, metadataUrl]) {
        const res = await fetch(url);
        assert.equal(res.status, 200, url);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        assert.deepEqual(await res.json(), expected);
      }
    });
  });

  it('never logs a token or a row value', async () => {
    const logs = t.logs.text();
    assert.ok(logs.length > 0);
    for (const token of [analyst, reader, auditor]) assert.ok(!logs.includes(token), 'a token was logged');
    for (const c of customers.slice(0, 5)) {
      assert.ok(!logs.includes(c.email), 'an email was logged');
      assert.ok(!logs.includes(c.ssn), 'an SSN was logged');
    }
  });
});
