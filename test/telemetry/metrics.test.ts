import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { databaseUrl, eventually, startTestStack, type TestStack } from '@airlock/testkit';

type Samples = Map<string, number>;

/** Parses the Prometheus text format into `name{label="value",…}` → value; also records each family's TYPE. */
function parse(text: string): { samples: Samples; families: Set<string> } {
  const samples: Samples = new Map();
  const families = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) families.add(type[1]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable metrics line: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return { samples, families };
}

async function scrape(port: number): Promise<{ samples: Samples; families: Set<string> }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

/** A sample's value; a family that exists but has no sample for these labels yet counts 0, an unknown family fails. */
function value(m: { samples: Samples; families: Set<string> }, family: string, sample: string): number {
  assert.ok(m.families.has(family), `no metric family ${family}`);
  return m.samples.get(sample) ?? 0;
}

describe('Prometheus metrics per service, scraped after a few statements', () => {
  let t: TestStack;
  const port = (service: string) => {
    const p = t.ports[`${service}Metrics`];
    assert.ok(typeof p === 'number' && p > 0, `${service} serves /metrics`);
    return p;
  };

  before(async () => {
    t = await startTestStack({
      env: { AIRLOCK_METRICS_PORT: '0' },
      configure: (c) => {
        c['connections']['demo']['leases']['mode'] = 'statement';
        // an approval-required statement is answered "pending" at once instead of being held
        c['approval'] = { ...c['approval'], holdSeconds: 0 };
      },
    });
    const analyst = await t.token({ subject: 'agent-metrics', groups: ['analysts'] });
    const client = new pg.Client({ connectionString: t.pgUrl(analyst) });
    await client.connect();
    try {
      // three allowed reads: 2 + 1 + 0 masked emails
      await client.query('SELECT id, email FROM customers WHERE id IN (1, 2) ORDER BY id');
      await client.query('SELECT id, email FROM customers WHERE id = 3');
      await client.query('SELECT id, total FROM orders WHERE id = 1');
      // one refused, one held for approval
      await assert.rejects(client.query('DROP TABLE orders'), /DDL and GRANT are not allowed/);
      await assert.rejects(client.query('UPDATE orders SET total = total WHERE id = 1'), (err: { code?: string }) => err.code === '57014');
    } finally {
      await client.end();
    }
    // a refused token
    const bad = new pg.Client({ connectionString: t.pgUrl('not-a-token') });
    await assert.rejects(bad.connect());
    await bad.end().catch(() => undefined);
  });

  after(async () => {
    await t?.close();
  });

  it('policy counts statements by decision', async () => {
    const m = await scrape(port('policy'));
    const decided = (outcome: string) => value(m, 'airlock_policy_decisions_total', `airlock_policy_decisions_total{connection="demo",outcome="${outcome}"}`);
    assert.deepEqual([decided('allow'), decided('deny'), decided('approval-required')], [3, 1, 1]);
    assert.equal(value(m, 'airlock_policy_decision_duration_seconds', 'airlock_policy_decision_duration_seconds_count{outcome="allow"}'), 3);
    assert.equal(value(m, 'airlock_bus_requests_total', 'airlock_bus_requests_total{operation="policy.v1.decide",code="ok"}'), 5);
  });

  it('the proxy counts statements by outcome and the cells it masked', async () => {
    const m = await scrape(port('proxy'));
    const count = (outcome: string) =>
      value(m, 'airlock_proxy_statement_duration_seconds', `airlock_proxy_statement_duration_seconds_count{connection="demo",outcome="${outcome}"}`);
    assert.deepEqual([count('completed'), count('failed')], [3, 2]);
    assert.equal(value(m, 'airlock_proxy_masked_cells_total', 'airlock_proxy_masked_cells_total{connection="demo"}'), 3);
  });

  it('credential times each mint and revocation and reads the live leases from its table', async () => {
    const m = await eventually(async () => {
      const s = await scrape(port('credential'));
      return s.samples.get('airlock_credential_revoke_duration_seconds_count{connection="demo",outcome="revoked"}') === 3 ? s : undefined;
    }, 10_000, 'three revocations');
    assert.equal(value(m, 'airlock_credential_mint_duration_seconds', 'airlock_credential_mint_duration_seconds_count{connection="demo",outcome="ok"}'), 3);
    assert.equal(value(m, 'airlock_credential_mint_duration_seconds', 'airlock_credential_mint_duration_seconds_count{connection="demo",outcome="failed"}'), 0);
    assert.equal(value(m, 'airlock_credential_revocation_failures_total', 'airlock_credential_revocation_failures_total{connection="demo"}'), 0);
    assert.equal(value(m, 'airlock_credential_leases_live', 'airlock_credential_leases_live{connection="demo",state="active"}'), 0);
    assert.equal([...m.samples.keys()].filter((k) => k.startsWith('airlock_credential_leases_live{')).length, 1);
  });

  it('approval counts submissions and requests by state', async () => {
    const m = await scrape(port('approval'));
    assert.equal(value(m, 'airlock_approval_submissions_total', 'airlock_approval_submissions_total{state="pending"}'), 1);
    const requests = (state: string) => value(m, 'airlock_approval_requests', `airlock_approval_requests{state="${state}"}`);
    assert.deepEqual(['pending', 'granted', 'denied', 'expired', 'cancelled'].map(requests), [1, 0, 0, 0, 0]);
  });

  it('identity counts verifications by outcome', async () => {
    const m = await scrape(port('identity'));
    assert.equal(value(m, 'airlock_identity_verifications_total', 'airlock_identity_verifications_total{outcome="ok"}'), 1);
    assert.equal(value(m, 'airlock_identity_verifications_total', 'airlock_identity_verifications_total{outcome="identity.invalid_token"}'), 1);
  });

  it('audit counts exactly the events it wrote', async () => {
    const state = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
    await state.connect();
    try {
      // settled: the three completions and the session's end are written, and the counter agrees with the table
      const written = await eventually(async () => {
        const { rows } = await state.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
        const m = await scrape(port('audit'));
        const counted = value(m, 'airlock_audit_events_appended_total', 'airlock_audit_events_appended_total');
        const completed = await state.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE event_type IN ('proxy.v1.query-completed', 'proxy.v1.session-closed')");
        return completed.rows[0]!.n === 4 && counted === rows[0]!.n ? counted : undefined;
      }, 15_000, 'the audit log to settle');
      assert.ok(written >= 20, `${written} events written`);
    } finally {
      await state.end();
    }
  });

  it('answers anything but GET /metrics with 404', async () => {
    const res = await fetch(`http://127.0.0.1:${port('policy')}/`);
    assert.equal(res.status, 404);
  });
});
