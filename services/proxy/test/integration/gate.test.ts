// The gate acts only on a decision the policy service signed for this very request. The real policy service decides;
// a relay on another subject root hands the gate that decision, altered in one way per case.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, decodeProtectedHeader } from 'jose';
import { identityV1, policyV1, type Principal } from '@airlock/contracts';
import { AirlockError, Bus, Signer, TrustedKeys, digest, newContext, tokenKinds } from '@airlock/runtime';
import { startTestStack, type TestStack } from '@airlock/testkit';
import { ReuseEpoch } from '../../src/core/decision-reuse.js';
import { Gate } from '../../src/core/gate.js';
import type { Upstream } from '../../src/core/lease-holder.js';

describe('the gate refuses a decision whose signature does not hold', () => {
  let t: TestStack;
  let real: Bus;
  let relay: Bus;
  let agent: Principal;
  let tamper: (d: policyV1.Decision) => policyV1.Decision | Promise<policyV1.Decision> = (d) => d;
  /** the statement the relay asks policy about instead of the one the gate sent */
  let swapSql: string | undefined;
  /** the statements policy was asked about, through the relay */
  const asked: string[] = [];

  before(async () => {
    t = await startTestStack({ names: ['identity', 'credential', 'policy'] });
    real = await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'gate-test', logger: t.logger });
    relay = await Bus.connect({ url: t.env['NATS_URL']!, root: `${t.root}r`, service: 'policy-relay', logger: t.logger });
    relay.serve(policyV1.decide, async (req, ctx) => {
      asked.push(req.sql);
      return tamper(await real.call(policyV1.decide, { ...req, sql: swapSql ?? req.sql }, ctx));
    });
    const token = await t.token({ subject: 'agent-1', groups: ['analysts'] });
    agent = (await real.call(identityV1.verifyToken, { token }, newContext())).principal;
  });
  after(async () => {
    await relay?.close();
    await real?.close();
    await t?.close();
  });

  /** a gate on a session that holds a live upstream for every role with `live`, and none without */
  const gate = (options: { live?: boolean; session?: string; epoch?: ReuseEpoch } = {}) =>
    new Gate({
      bus: relay,
      logger: t.logger,
      decisions: new TrustedKeys(real, policyV1.keys, tokenKinds.decision),
      holdMs: 0,
      session: { id: options.session ?? 's-gate', principal: agent, connection: 'demo', frontend: 'pgwire' },
      leases: { holderOf: (role) => (options.live ? ({ role, upstream: { closed: false } } as unknown as Upstream) : undefined) },
      reuseEpoch: options.epoch ?? new ReuseEpoch(),
    });
  /** how many times policy was asked about `sql` while `run` ran */
  const asks = async (sql: string, run: () => Promise<unknown>) => {
    asked.length = 0;
    await run();
    return asked.filter((s) => s === sql).length;
  };
  const decide = (g: Gate, sql: string, params: Array<string | null> = []) => {
    const ctx = newContext();
    return g.decide(sql, params, ctx.requestId, ctx);
  };
  const refused = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof AirlockError, 'refused');
    assert.deepEqual(
      [err.code, err.message],
      ['proxy.untrusted_decision', 'Airlock could not verify the policy decision for this statement, so it did not run; retry, and tell the operator if it persists'],
    );
  };

  it('passes the decision policy signed, with what a transaction-control statement does', async () => {
    tamper = (d) => d;
    const g = gate();
    const d = await decide(g, 'SELECT id FROM orders');
    assert.deepEqual([d.outcome, d.scope?.leaseMode], ['allow', 'session']);
    const begin = await decide(g, 'BEGIN');
    assert.deepEqual([begin.outcome, begin.rule, begin.scope, begin.analysis?.transaction], ['allow', 'builtin:transaction-control', null, 'begin']);
  });

  it('refuses an unsigned decision, an altered one, one signed by another key, and one for another request', async () => {
    const g = gate();
    tamper = ({ token: _token, ...d }) => d;
    await refused(decide(g, 'SELECT id FROM orders'));
    // held for approval, presented as allowed
    tamper = (d) => ({ ...d, outcome: 'allow', approval: null });
    await refused(decide(g, 'DELETE FROM orders WHERE id = 1'));
    tamper = (d) => ({ ...d, scope: d.scope && { ...d.scope, role: 'demo_writer' } });
    await refused(decide(g, 'SELECT id FROM orders'));
    tamper = (d) => ({ ...d, masking: { ...d.masking, columns: [] } });
    await refused(decide(g, 'SELECT email FROM customers'));
    // the analysis the proxy acts on: a SELECT passed off as an EXECUTE of a statement prepared with another plan, and
    // a ROLLBACK passed off as a BEGIN
    tamper = (d) => ({ ...d, analysis: d.analysis && { ...d.analysis, named: { verb: 'execute', name: 'p1' } } });
    await refused(decide(g, 'SELECT email FROM customers'));
    tamper = (d) => ({ ...d, analysis: d.analysis && { ...d.analysis, transaction: 'begin' } });
    await refused(decide(g, 'ROLLBACK'));
    // the same claims under the policy key's id, signed by a key of the forger's own
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    tamper = async (d) => {
      const claims = JSON.parse(Buffer.from(d.token!.split('.')[1]!, 'base64url').toString('utf8'));
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: decodeProtectedHeader(d.token!).kid!, typ: 'airlock-decision+jwt' }).sign(privateKey);
      return { ...d, token };
    };
    await refused(decide(g, 'SELECT id FROM orders'));
    // a genuine decision for an earlier request of the same session
    const earlier = await real.call(
      policyV1.decide,
      { requestId: newContext().requestId, sessionId: 's-gate', principal: agent, connection: 'demo', sql: 'SELECT id FROM orders', frontend: 'pgwire', paramsDigest: digest([]) },
      newContext(),
    );
    tamper = (d) => ({ ...earlier, requestId: d.requestId });
    await refused(decide(g, 'SELECT id FROM orders'));
    // decided for other bind parameters
    tamper = (d) => d;
    const ctx = newContext();
    const other = await real.call(
      policyV1.decide,
      { requestId: ctx.requestId, sessionId: 's-gate', principal: agent, connection: 'demo', sql: 'SELECT id FROM orders WHERE id = $1', frontend: 'pgwire', paramsDigest: digest(['2']) },
      ctx,
    );
    tamper = () => other;
    await refused(g.decide('SELECT id FROM orders WHERE id = $1', ['1'], ctx.requestId, ctx));
  });

  it('refuses a genuine decision for this very request that policy made about another statement', async () => {
    const g = gate();
    tamper = (d) => d;
    try {
      // the relay asks about a harmless statement and hands back its signed allow for the DELETE the gate sent
      swapSql = 'SELECT id FROM orders';
      await refused(decide(g, 'DELETE FROM orders WHERE id = 1'));
      // how the text is spaced or ended is not another statement
      swapSql = '  SELECT id FROM orders ;\n';
      const d = await decide(g, 'SELECT id FROM orders');
      assert.equal(d.outcome, 'allow');
    } finally {
      swapSql = undefined;
    }
  });

  it('acts again on a decision signed as reusable: same text, same session, a live upstream, the same epoch', async () => {
    tamper = (d) => d;
    const epoch = new ReuseEpoch();
    const g = gate({ live: true, epoch });
    const sql = 'SELECT id FROM orders';
    let first: policyV1.Decision | undefined;
    const again: policyV1.Decision[] = [];
    assert.equal(
      await asks(sql, async () => {
        first = await decide(g, sql);
        for (let i = 0; i < 3; i++) again.push(await g.decide(sql, [String(i)], newContext().requestId, newContext()));
      }),
      1,
    );
    const claims = JSON.parse(Buffer.from(first!.token!.split('.')[1]!, 'base64url').toString('utf8')) as policyV1.DecisionClaims;
    assert.equal(claims.reuse?.s, 5);
    assert.equal(g.reusedFrom(first!), undefined);
    for (const d of again) {
      assert.deepEqual(g.reusedFrom(d), { requestId: first!.requestId, outcome: 'allow', rule: first!.rule, statementDigest: digest(sql) });
      assert.deepEqual({ ...d }, { ...first! });
    }
    // another text (one space more), another session, a session without a live upstream: asked again
    assert.equal(await asks(`${sql} `, () => decide(g, `${sql} `)), 1);
    assert.equal(await asks(sql, () => decide(gate({ live: true, session: 's-other', epoch }), sql)), 1);
    const idle = gate({ live: false, epoch });
    assert.equal(await asks(sql, async () => (await decide(idle, sql), await decide(idle, sql))), 2);
    // policy announced another epoch: decided anew, then reused again
    epoch.advance();
    assert.equal(await asks(sql, async () => (await decide(g, sql), await decide(g, sql))), 1);
    // a statement that may change the schema ends the session's reuse
    assert.equal(await asks(sql, async () => (await decide(g, 'CREATE TEMP TABLE scratch (n int)').catch(() => undefined), await decide(g, sql))), 1);
  });

  it('never reuses a decision whose signature lacks the reuse claim, nor one that needs approval or sets up the session', async () => {
    // policy's own key re-signs the same decision without the claim: genuine, but for this request alone
    const signer = await Signer.load({ service: 'policy', env: t.env, logger: t.logger }, tokenKinds.decision);
    tamper = async (d) => {
      const { reuse, jti: _jti, iss: _iss, iat: _iat, exp: _exp, ...claims } = JSON.parse(Buffer.from(d.token!.split('.')[1]!, 'base64url').toString('utf8'));
      assert.ok(reuse, 'policy signed the decision as reusable');
      return { ...d, token: (await signer.sign(claims, 300)).token };
    };
    const g = gate({ live: true });
    const sql = 'SELECT id, status FROM orders';
    assert.equal(await asks(sql, async () => (await decide(g, sql), await decide(g, sql), await decide(g, sql))), 3);
    tamper = (d) => d;
    for (const other of ['DELETE FROM orders WHERE id = 1', 'BEGIN', "SET application_name = 'x'"]) {
      assert.equal(await asks(other, async () => (await decide(g, other), await decide(g, other))), 2, other);
    }
  });
});
