import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { credentialV1, policyV1 } from '@airlock/contracts';
import { newContext, startService, type RunningService } from '@airlock/runtime';
import { service as credential } from '../../src/definition.js';
import { rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

describe('two connections on one server with the same role prefix', () => {
  let t: TestStack;
  const copies: RunningService[] = [];

  before(async () => {
    t = await startTestStack({ names: ['audit', 'policy'], env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3600' } });
  });
  after(async () => {
    for (const c of copies) await c.close();
    await t?.close();
  });

  it("leaves the other connection's live credentials alone when it reconciles", async () => {
    const base = t.stack.config;
    // a second connection to the same server and database, with the same prefix (the default is the same for all)
    const config = { ...base, connections: { ...base.connections, 'demo-copy': base.connections['demo']! } };
    copies.push(await startService(credential, t.env, { config, logger: t.logger }));
    const bus = copies[0]!.host.bus;
    const principal = { subject: 'agent-prefix', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] };
    const d = await bus.call(
      policyV1.decide,
      { requestId: 'r1', sessionId: 's1', principal, connection: 'demo', sql: 'SELECT id FROM orders', frontend: 'pgwire' },
      newContext(),
    );
    const lease = await bus.call(
      credentialV1.issueLease,
      { requestId: 'r1', sessionId: 's1', connection: 'demo', principal, scope: d.scope!, holder: 'test', decision: d.token! },
      newContext(),
      { timeoutMs: 20_000 },
    );
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), [lease.username]);
    // a second copy starts and reconciles every connection, `demo-copy` included, whose prefix lists the demo lease's role
    copies.push(await startService(credential, t.env, { config, logger: t.logger }));
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), [lease.username]);
    const warnings = t.logs.lines.filter((l) => /without a live lease/.test(l));
    assert.deepEqual(warnings, []);
  });
});
