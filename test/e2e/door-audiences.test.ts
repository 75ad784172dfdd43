// One audience per door, as the design fixes them in the demo: `airlock` for the database doors, the approval API's
// and the audit API's own URLs for those APIs, the endpoint's URL for MCP. A token made for one door opens that door and
// is refused at every other, with a refusal that names the audience the door expects.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestStack, type TestStack } from '@airlock/testkit';

const approvalAud = 'http://127.0.0.1:8081';
const auditAud = 'http://127.0.0.1:8082';
const mcpAud = 'http://127.0.0.1:8080/mcp';

describe('tokens made for one door', () => {
  let t: TestStack;
  before(async () => {
    t = await startTestStack();
  });
  after(async () => {
    await t?.close();
  });

  const get = async (port: number, path: string, token: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const refusedAt = (api: string, audience: string) => ({
    status: 401,
    body: {
      code: 'identity.audience_mismatch',
      message: `the ${api} takes tokens issued for audience ${audience}, and this token was issued for another; request a token for ${audience}`,
      details: { door: api === 'approval API' ? 'approval' : 'audit', audience },
    },
  });

  it('open the approval API with its own audience', async () => {
    const dba = await t.token({ subject: 'dba-aud', groups: ['dba'], audience: approvalAud });
    assert.deepEqual(await get(t.ports['approval']!, '/v1/approvals', dba), { status: 200, body: { approvals: [] } });
  });

  it('open the audit API with its own audience', async () => {
    const auditor = await t.token({ subject: 'auditor-aud', groups: ['auditors'], audience: auditAud });
    const res = await get(t.ports['audit']!, '/v1/events?tail=1', auditor);
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body['events']));
  });

  it('a database token, or one made for another door, is refused at the approval API', async () => {
    for (const audience of [undefined, auditAud, mcpAud]) {
      const dba = await t.token({ subject: 'dba-aud', groups: ['dba'], ...(audience ? { audience } : {}) });
      assert.deepEqual(await get(t.ports['approval']!, '/v1/approvals', dba), refusedAt('approval API', approvalAud), audience ?? 'airlock');
    }
  });

  it('a database token, or one made for another door, is refused at the audit API', async () => {
    for (const audience of [undefined, approvalAud, mcpAud]) {
      const auditor = await t.token({ subject: 'auditor-aud', groups: ['auditors'], ...(audience ? { audience } : {}) });
      assert.deepEqual(await get(t.ports['audit']!, '/v1/events?tail=1', auditor), refusedAt('audit API', auditAud), audience ?? 'airlock');
    }
  });

  it('are refused at the PostgreSQL door, which takes `airlock` tokens only', async () => {
    for (const audience of [approvalAud, auditAud, mcpAud]) {
      const token = await t.token({ subject: 'agent-aud', groups: ['analysts'], audience });
      const client = new pg.Client({ connectionString: t.pgUrl(token) });
      await assert.rejects(client.connect(), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '28P01');
        assert.equal(
          err.message,
          'Airlock could not authenticate you: the database door (PostgreSQL or Snowflake) takes tokens issued for audience airlock, and this token was issued for another; request a token for airlock',
        );
        return true;
      });
      await client.end().catch(() => undefined);
    }
  });

  it('an MCP token is refused at the MCP endpoint only when made for another door', async () => {
    const post = (token: string) =>
      fetch(`http://127.0.0.1:${t.ports['http']}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
    const own = await post(await t.token({ subject: 'agent-aud', groups: ['analysts'], audience: mcpAud }));
    assert.equal(own.status, 200);
    for (const audience of [undefined, approvalAud]) {
      const res = await post(await t.token({ subject: 'agent-aud', groups: ['analysts'], ...(audience ? { audience } : {}) }));
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      assert.equal(((await res.json()) as { code: string }).code, 'identity.audience_mismatch');
    }
  });
});
