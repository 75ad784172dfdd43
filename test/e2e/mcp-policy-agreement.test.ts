import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Policy } from '@airlock/config';
import { policyV1 } from '@airlock/contracts';
import { Bus, newContext } from '@airlock/runtime';
import { freePort, startTestStack, type TestStack } from '@airlock/testkit';

// MCP `list_connections` tells an agent which rules let it run statements; policy's decisions are what actually
// happens. For every group of the demo config, every connection and every rule, the two must agree: a rule is listed
// exactly when policy decides the statements it covers by that rule (and it does not refuse them).

interface ListedRule {
  rule: string;
  decision: 'allow' | 'approval';
  kinds: string[];
  tables: string[];
  approvers: string[];
}
interface Listed {
  connections: Array<{ name: string; type: string; rules: ListedRule[] }>;
}

/** One statement of a kind on a table, in the connection's dialect, that touches no masked column. */
function probe(kind: string, table: string, dialect: 'postgres' | 'snowflake'): string {
  switch (kind) {
    case 'select':
      return `SELECT id FROM ${table}`;
    case 'insert':
      return `INSERT INTO ${table} (id) VALUES (1000001)`;
    case 'update':
      return `UPDATE ${table} SET id = 1000001 WHERE id = 1000001`;
    case 'delete':
      return `DELETE FROM ${table} WHERE id = 1000001`;
    case 'ddl':
      return `CREATE TABLE airlock_probe_${table} (id integer)`;
    case 'grant':
      return dialect === 'postgres' ? `GRANT SELECT ON ${table} TO PUBLIC` : `GRANT SELECT ON TABLE ${table} TO ROLE PUBLIC`;
    default:
      throw new Error(`no probe statement for the kind "${kind}": add one`);
  }
}

describe('MCP list_connections and policy agree on every rule of the demo config', () => {
  let t: TestStack;
  let bus: Bus;
  let resource: string;
  const clients: Client[] = [];

  before(async () => {
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    t = await startTestStack({
      keepWarehouse: true,
      env: { AIRLOCK_HTTP_PORT: String(port) },
      configure: (c) => {
        c['identity']['issuers'][0]['audiences'].push(resource);
        c['mcp'] = { resource };
      },
    });
    bus = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'agreement-test', logger: t.logger });
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await bus?.close();
    await t?.close();
  });

  async function listConnections(groups: string[]): Promise<Listed> {
    const token = await t.token({ subject: `agreement-${groups.join('-') || 'none'}`, groups, audience: resource });
    const client = new Client({ name: 'airlock-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    clients.push(client);
    const result = (await client.callTool({ name: 'list_connections', arguments: {} })) as CallToolResult;
    assert.equal(result.isError, undefined);
    return result.structuredContent as unknown as Listed;
  }

  it('each group × connection × rule: listed exactly when policy decides by that rule, and as the rule says', async () => {
    const config = t.stack.config;
    const connections = Object.entries(config.connections).map(([name, c]) => ({ name, dialect: c.type }));
    assert.deepEqual(connections.map((c) => c.name).sort(), ['demo', 'warehouse']);
    const named = new Set<string>([
      ...config.policies.flatMap((p) => [...p.groups, ...(p.approvers ?? [])]),
      ...(config.masking?.rules ?? []).flatMap((r) => r.exemptGroups ?? []),
    ]);
    named.delete('*');
    // every group the config names, one it never names, and none at all
    const groupSets = [...[...named].sort().map((g) => [g]), ['outsiders'], []];
    assert.ok(groupSets.length >= 4, 'the demo names analysts, pii-readers and dba');

    let listedCount = 0;
    let unlistedCount = 0;
    for (const groups of groupSets) {
      const listed = await listConnections(groups);
      const principal = { subject: `agreement-${groups.join('-') || 'none'}`, issuer: 'http://agreement.test', groups };
      for (const { name: connection, dialect } of connections) {
        const onConnection = listed.connections.find((c) => c.name === connection);
        for (const rule of config.policies as Policy[]) {
          const what = `groups [${groups.join(', ')}] on ${connection}, rule ${rule.name}`;
          const entry = onConnection?.rules.find((r) => r.rule === rule.name);
          // policy decides a statement of each kind the rule covers, on each table it names
          const tables = rule.tables ?? ['orders'];
          for (const table of tables) assert.ok(!/[*?]/.test(table), `${what}: a probe needs a plain table name, not "${table}"`);
          const decisions = await Promise.all(
            rule.kinds.flatMap((kind) =>
              tables.map(async (table) => {
                const requestId = randomUUID();
                const sql = probe(kind, table, dialect);
                const d = await bus.call(
                  policyV1.decide,
                  { requestId, sessionId: randomUUID(), principal, connection, sql, frontend: 'mcp' },
                  newContext(requestId),
                );
                return { sql, d };
              }),
            ),
          );
          const byRule = decisions.map(({ d }) => d.rule === rule.name);
          // the demo's rules do not overlap: each probe is decided by its rule, or by none of the rule's own
          assert.ok(byRule.every((b) => b === byRule[0]), `${what}: policy decides some probes by the rule and some not: ${JSON.stringify(decisions.map(({ sql, d }) => [sql, d.rule]))}`);
          const applies = byRule[0]!;
          const shouldList = applies && rule.decision !== 'deny';
          assert.equal(entry !== undefined, shouldList, `${what}: listed ${entry !== undefined}, policy decides by it ${applies} (${rule.decision})`);
          if (applies) {
            const outcome = { allow: 'allow', approval: 'approval-required', deny: 'deny' }[rule.decision];
            for (const { sql, d } of decisions) assert.equal(d.outcome, outcome, `${what}: ${sql} → ${d.outcome}: ${d.reason}`);
          }
          if (entry) {
            listedCount++;
            assert.deepEqual(entry, {
              rule: rule.name,
              decision: rule.decision,
              kinds: [...rule.kinds],
              tables: rule.tables ? [...rule.tables] : ['*'],
              approvers: rule.decision === 'approval' ? [...(rule.approvers ?? [])] : [],
            });
            for (const { d } of decisions) {
              if (rule.decision === 'approval') assert.deepEqual(d.approval?.approverGroups, entry.approvers, `${what}: approvers`);
            }
          } else {
            unlistedCount++;
          }
        }
      }
      // and nothing is listed that the config does not hold
      for (const c of listed.connections) {
        assert.ok(c.rules.length > 0, `an empty connection ${c.name} is not listed`);
        for (const r of c.rules) assert.ok(config.policies.some((p) => p.name === r.rule), `listed rule ${r.rule} is in the config`);
      }
    }
    // not vacuous: both answers occur, on both connections
    assert.ok(listedCount >= 8, `rules listed: ${listedCount}`);
    assert.ok(unlistedCount >= 8, `rules not listed: ${unlistedCount}`);
  });
});
