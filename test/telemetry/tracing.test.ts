import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { demoCustomers } from '@airlock/cli';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

// Every span of one statement, in every service of the stack, lands in this exporter: the services share the test
// process, and the OpenTelemetry API's global tracer provider is the one place spans go.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

/** The trace as an indented tree of `name [service]`, children sorted by name: one line per span. */
function render(spans: ReadableSpan[]): string[] {
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const s of spans) {
    const parent = s.parentSpanContext?.spanId;
    // a parent outside this trace's spans would make the span a second root: the tree shows it at the top
    const key = parent && ids.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (key: string | undefined, depth: number) => {
    const kids = [...(children.get(key) ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    for (const s of kids) {
      lines.push(`${'  '.repeat(depth)}${s.name} [${s.instrumentationScope.name}]`);
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}

const statementTree = [
  'statement [airlock-proxy]',
  '  call credential.v1.issue [airlock-proxy]',
  '    serve credential.v1.issue [airlock-credential]',
  '      mint [airlock-credential]',
  '  call credential.v1.revoke [airlock-proxy]',
  '    serve credential.v1.revoke [airlock-credential]',
  '      revoke [airlock-credential]',
  '  call policy.v1.decide [airlock-proxy]',
  '    serve policy.v1.decide [airlock-policy]',
  '      decide [airlock-policy]',
  '      parse [airlock-policy]',
  '      sign [airlock-policy]',
  '  connect [airlock-proxy]',
  '  execute [airlock-proxy]',
  '  mask [airlock-proxy]',
];

/** Names that belong to a statement's life: each must appear in that statement's trace and nowhere else. */
const stepNames = new Set(statementTree.map((l) => l.trim().replace(/ \[.*$/, '')));

describe('one trace per statement across the services (OpenTelemetry, in-memory exporter)', () => {
  let t: TestStack;
  let client: pg.Client;
  let token: string;
  const customers = demoCustomers();

  before(async () => {
    trace.setGlobalTracerProvider(provider);
    t = await startTestStack({
      configure: (c) => {
        // a credential per statement: mint and revoke both belong to the statement's trace
        c['connections']['demo']['leases']['mode'] = 'statement';
      },
    });
    token = await t.token({ subject: 'agent-trace', groups: ['analysts'] });
    client = new pg.Client({ connectionString: t.pgUrl(token) });
    await client.connect();
    // the first statement also loads policy's catalogue (its own trace); measure the ones after it
    await client.query('SELECT id FROM orders WHERE id = 1');
    await eventually(async () => (exporter.getFinishedSpans().some((s) => s.name === 'statement') ? true : undefined), 10_000, 'the warm-up trace');
  });

  after(async () => {
    await client?.end().catch(() => undefined);
    await t?.close();
    trace.disable();
    await provider.shutdown();
  });

  /** Runs one statement and returns the spans of its trace, once its root span has ended. */
  async function traced(sql: string): Promise<{ rows: unknown[]; spans: ReadableSpan[]; all: ReadableSpan[] }> {
    exporter.reset();
    const res = await client.query({ text: sql, rowMode: 'array' });
    const root = await eventually(async () => exporter.getFinishedSpans().find((s) => s.name === 'statement'), 10_000, 'the statement span');
    const traceId = root.spanContext().traceId;
    // spans of other services end before they answer, so by now every span of the trace has ended
    const all = exporter.getFinishedSpans();
    return { rows: res.rows, spans: all.filter((s) => s.spanContext().traceId === traceId), all };
  }

  it('connects every step of a masked SELECT, in proxy, policy and credential, in one tree', async () => {
    const { rows, spans, all } = await traced('SELECT id, email FROM customers WHERE id IN (1, 2) ORDER BY id');
    assert.deepEqual(rows, [
      [1, `***@${customers[0]!.email.split('@')[1]}`],
      [2, `***@${customers[1]!.email.split('@')[1]}`],
    ]);
    assert.deepEqual(render(spans), statementTree);
    // no step of this statement was recorded in another trace
    const elsewhere = all.filter((s) => stepNames.has(s.name) && !spans.includes(s)).map((s) => s.name);
    assert.deepEqual(elsewhere, []);

    const byName = new Map(spans.map((s) => [s.name, s]));
    assert.deepEqual(byName.get('statement')!.attributes, {
      'airlock.connection': 'demo',
      'airlock.frontend': 'pgwire',
      'airlock.decision': 'allow',
      'airlock.rule': 'analysts-read',
      'airlock.statement.kind': 'select',
    });
    assert.deepEqual(byName.get('parse')!.attributes, { 'airlock.statement.kind': 'select', 'airlock.statement.count': 1, 'airlock.tables.count': 1 });
    assert.deepEqual(byName.get('decide')!.attributes, {
      'airlock.connection': 'demo',
      'airlock.decision': 'allow',
      'airlock.rule': 'analysts-read',
      'airlock.statement.kind': 'select',
      'airlock.masked_columns.count': 1,
    });
    assert.deepEqual(byName.get('mask')!.attributes, { 'airlock.rows': 2, 'airlock.masked_cells': 2 });
    // no pool on this connection: the credential was made for the statement
    assert.deepEqual(byName.get('mint')!.attributes, { 'airlock.connection': 'demo', 'airlock.lease.mode': 'statement', 'airlock.lease.pooled': false });
    assert.deepEqual(byName.get('revoke')!.attributes, { 'airlock.lease.state': 'revoked' });
    assert.equal(byName.get('serve policy.v1.decide')!.attributes['messaging.destination.name'], `${t.root}.policy.v1.decide`);
    for (const s of spans) assert.equal(s.status.code, 0, `${s.name} ended unset (not failed)`);
  });

  it('starts a new trace for each statement', async () => {
    const first = await traced('SELECT id, total FROM orders WHERE id = 2');
    const second = await traced('SELECT id, total FROM orders WHERE id = 3');
    assert.notEqual(first.spans[0]!.spanContext().traceId, second.spans[0]!.spanContext().traceId);
    for (const run of [first, second]) {
      assert.deepEqual(render(run.spans), statementTree.map((l) => l));
      assert.deepEqual(run.spans.find((s) => s.name === 'mask')!.attributes, { 'airlock.rows': 1, 'airlock.masked_cells': 0 });
    }
  });

  it('marks a refused statement failed with its code, and mints nothing for it', async () => {
    exporter.reset();
    await assert.rejects(client.query('DROP TABLE orders'), /DDL and GRANT are not allowed/);
    const root = await eventually(async () => exporter.getFinishedSpans().find((s) => s.name === 'statement'), 10_000, 'the statement span');
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId);
    assert.deepEqual(render(spans), [
      'statement [airlock-proxy]',
      '  call policy.v1.decide [airlock-proxy]',
      '    serve policy.v1.decide [airlock-policy]',
      '      decide [airlock-policy]',
      '      parse [airlock-policy]',
      '      sign [airlock-policy]',
    ]);
    assert.deepEqual(root.status, { code: 2, message: 'policy.denied' });
    assert.equal(root.attributes['airlock.error_code'], 'policy.denied');
    assert.equal(root.attributes['airlock.statement.kind'], 'ddl');
  });

  it('puts no SQL text, token or row value into any span', async () => {
    exporter.reset();
    await client.query("SELECT id, name FROM customers WHERE name <> 'nobody-at-all' AND id = 4");
    await eventually(async () => exporter.getFinishedSpans().find((s) => s.name === 'statement'), 10_000, 'the statement span');
    const text = JSON.stringify(exporter.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })));
    for (const secret of ['nobody-at-all', 'SELECT', 'customers', token, customers[3]!.name]) {
      assert.ok(!text.includes(secret), `a span carries "${secret.slice(0, 20)}"`);
    }
  });
});
