// The audiences the design fixes per door: `airlock` for the database doors, the approval API's and the audit API's
// own URLs for those APIs. A token made for an API works there, and is refused at a database door.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestStack, type TestStack } from '@airlock/testkit';

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

  it('open the approval API with its own audience', async () => {
    const dba = await t.token({ subject: 'dba-aud', groups: ['dba'], audience: 'http://127.0.0.1:8081' });
    assert.deepEqual(await get(t.ports['approval']!, '/v1/approvals', dba), { status: 200, body: { approvals: [] } });
  });

  it('open the audit API with its own audience', async () => {
    const auditor = await t.token({ subject: 'auditor-aud', groups: ['auditors'], audience: 'http://127.0.0.1:8082' });
    const res = await get(t.ports['audit']!, '/v1/events?tail=1', auditor);
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body['events']));
  });

  it('are refused at the PostgreSQL door, which takes `airlock` tokens only', async () => {
    for (const audience of ['http://127.0.0.1:8081', 'http://127.0.0.1:8082', 'http://127.0.0.1:8080/mcp']) {
      const token = await t.token({ subject: 'agent-aud', groups: ['analysts'], audience });
      const client = new pg.Client({ connectionString: t.pgUrl(token) });
      await assert.rejects(client.connect(), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '28P01');
        assert.match(err.message, /^Airlock could not authenticate you: /);
        return true;
      });
      await client.end().catch(() => undefined);
    }
  });
});
