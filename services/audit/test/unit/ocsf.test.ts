import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toOcsf } from '../../src/ocsf.js';

const principal = { subject: 'agent-1', issuer: 'https://issuer.example', email: 'a@example.com', groups: ['analysts'] };
const base = { id: '6f1c2a4e-0000-4000-8000-000000000001', time: '2025-01-31T12:00:00.000Z' };

describe('OCSF mapping', () => {
  const cases: Array<[string, Record<string, unknown>, [number, number, number, string, number]]> = [
    // subject, payload → class_uid, activity_id, status_id, status, severity_id
    ['identity.v1.token-verified', { principal }, [3002, 1, 1, 'Success', 1]],
    ['identity.v1.token-refused', { code: 'identity.expired_token', reason: 'expired' }, [3002, 1, 2, 'Failure', 3]],
    ['proxy.v1.session-opened', { sessionId: 's', principal, client: '::ffff:10.1.2.3:5432' }, [6005, 3, 1, 'Success', 1]],
    ['proxy.v1.session-closed', { sessionId: 's', reason: 'client-terminated' }, [6005, 99, 1, 'Success', 1]],
    ['policy.v1.decided', { principal, decision: { outcome: 'allow', reason: 'ok' } }, [6005, 99, 1, 'Success', 1]],
    ['policy.v1.decided', { principal, decision: { outcome: 'deny', reason: 'no', code: 'policy.denied' } }, [6005, 99, 2, 'Failure', 2]],
    ['proxy.v1.query-started', { requestId: 'r' }, [6005, 4, 0, 'Unknown', 1]],
    ['proxy.v1.query-completed', { requestId: 'r', command: 'SELECT 1' }, [6005, 4, 1, 'Success', 1]],
    ['proxy.v1.query-failed', { requestId: 'r', code: 'proxy.upstream_error', message: 'boom' }, [6005, 4, 2, 'Failure', 2]],
    ['proxy.v1.query-completed', { requestId: 'r', command: 'SELECT 1', reused: { requestId: 'r0' } }, [6005, 4, 1, 'Success', 1]],
    ['approval.v1.requested', { approvalId: 'a' }, [0, 99, 0, 'Unknown', 1]],
    ['approval.v1.decided', { approvalId: 'a', state: 'granted' }, [0, 99, 1, 'Success', 1]],
    ['approval.v1.decided', { approvalId: 'a', state: 'denied' }, [0, 99, 2, 'Failure', 1]],
    ['credential.v1.issued', { lease: {} }, [3001, 1, 1, 'Success', 1]],
    ['credential.v1.revoked', { leaseId: 'l', reason: 'ttl' }, [3001, 6, 1, 'Success', 1]],
    ['credential.v1.revoke-failed', { leaseId: 'l', irrevocable: false }, [3001, 6, 2, 'Failure', 2]],
    ['credential.v1.revoke-failed', { leaseId: 'l', irrevocable: true }, [3001, 6, 2, 'Failure', 4]],
    ['other.v9.thing', {}, [0, 99, 99, 'Other', 1]],
  ];
  it('names the reused decision on a statement recorded by its end alone', () => {
    const reused = { requestId: 'r0', outcome: 'allow', rule: 'analysts-read', statementDigest: 'd' };
    assert.equal(toOcsf('airlock.evt.proxy.v1.query-completed', { ...base, requestId: 'r', command: 'SELECT 1', reused }).status_detail, 'SELECT 1 under the decision of request r0');
    assert.equal(toOcsf('airlock.evt.proxy.v1.query-failed', { ...base, requestId: 'r', message: 'canceled', reused }).status_detail, 'canceled (under the decision of request r0)');
    assert.equal(toOcsf('airlock.evt.proxy.v1.query-completed', { ...base, requestId: 'r', command: 'SELECT 1' }).status_detail, 'SELECT 1');
  });
  for (const [type, payload, [cls, activity, status, statusName, severity]] of cases) {
    it(`maps ${type} ${JSON.stringify(payload).slice(0, 60)}`, () => {
      const event = { ...base, ...payload };
      const o = toOcsf(`airlock.evt.${type}`, event);
      assert.deepEqual([o.class_uid, o.activity_id, o.status_id, o.status, o.severity_id], [cls, activity, status, statusName, severity]);
      assert.equal(o.type_uid, cls * 100 + activity);
      assert.equal(o.time, Date.parse(base.time));
      assert.equal(o.metadata.uid, base.id);
      assert.equal(o.metadata.event_code, type);
      assert.deepEqual(o.unmapped, { subject: `airlock.evt.${type}`, event });
    });
  }

  it('names the actor from the event or from the remembered session principal, and the source address', () => {
    const opened = toOcsf('airlock.evt.proxy.v1.session-opened', { ...base, sessionId: 's', principal, client: '::ffff:10.1.2.3:5432' });
    assert.deepEqual(opened.actor, { user: { uid: 'agent-1', name: 'agent-1', email_addr: 'a@example.com', groups: [{ name: 'analysts' }] }, session: { uid: 's' } });
    assert.deepEqual(opened.src_endpoint, { ip: '10.1.2.3' });
    const later = toOcsf('airlock.evt.proxy.v1.query-completed', { ...base, sessionId: 's', requestId: 'r' }, principal);
    assert.equal(later.actor?.user?.uid, 'agent-1');
    assert.equal(later.metadata.correlation_uid, 'r');
    assert.equal(toOcsf('airlock.evt.proxy.v1.query-completed', { ...base }).actor, undefined);
    assert.deepEqual(toOcsf('airlock.evt.proxy.v1.session-opened', { ...base, client: '[2001:db8::1]:443' }).src_endpoint, { ip: '2001:db8::1' });
    assert.deepEqual(toOcsf('airlock.evt.proxy.v1.session-opened', { ...base, client: 'mcp-host' }).src_endpoint, { name: 'mcp-host' });
  });
});
