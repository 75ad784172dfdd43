import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import pg from 'pg';
import { demoConfigPath } from '@airlock/config';
import { freePort, freshDatabase } from '@airlock/testkit';
import { seedDemoDatabase, startDemoWarehouse } from '@airlock/demo';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/airlock.js', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
const shipped = join(root, 'deploy/config/policy-tests');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('airlock policy test', () => {
  // NATS and PostgreSQL where nothing listens: the fixtures need neither
  let offline: Record<string, string | undefined>;
  before(async () => {
    offline = {
      ...process.env,
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
      DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/airlock`,
      AIRLOCK_CONFIG: '',
    };
  });
  const airlock = async (args: string[], env: Record<string, string | undefined> = offline): Promise<Run> => {
    try {
      const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { cwd: root, env });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  /** a fixture directory holding the demo's snapshots and the given fixture file */
  const fixtureDir = (yaml: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-test-'));
    for (const c of ['demo', 'warehouse']) copyFileSync(join(shipped, `${c}.catalog.json`), join(dir, `${c}.catalog.json`));
    writeFileSync(join(dir, 'fixtures.yaml'), yaml);
    return dir;
  };
  const analystReads = (masked: string, decision = 'allow') => `fixtures:
  - name: analysts read customers
    connection: demo
    principal: { subject: agent-1, groups: [analysts] }
    statement: SELECT id, email, ssn FROM customers
    expect:
      decision: ${decision}
      rule: analysts-read
      masked: ${masked}
`;

  it('with no argument runs the demo fixtures, with NATS and PostgreSQL unreachable, and every row passes', async () => {
    const r = await airlock(['policy', 'test']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], '18 fixtures from deploy/config/policy-tests against deploy/config/demo.yaml');
    assert.deepEqual(lines.slice(2).map((l) => l.split(/ {2,}/)), [
      ['fixture', 'expected', 'got', 'result'],
      ['analysts read customers, PII masked', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      ['analysts read orders in clear', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      ['masking follows lineage through expressions and joins', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      ['filtering on a masked column is refused', 'deny guardrail:inference', 'deny guardrail:inference', 'PASS'],
      ['ordering by a masked column is refused', 'deny guardrail:inference', 'deny guardrail:inference', 'PASS'],
      ['grouping by a masked column is refused', 'deny guardrail:inference', 'deny guardrail:inference', 'PASS'],
      ['joining on a masked column is refused', 'deny guardrail:inference', 'deny guardrail:inference', 'PASS'],
      ['an INSERT on orders waits for one dba', 'approval orders-writes-need-dba', 'approval orders-writes-need-dba', 'PASS'],
      ['changing customers is not allowed', 'deny (no rule)', 'deny (no rule)', 'PASS'],
      ['DDL is refused', 'deny refuse-ddl', 'deny refuse-ddl', 'PASS'],
      ['an unknown group reads nothing', 'deny (no rule)', 'deny (no rule)', 'PASS'],
      ['warehouse analysts read customers, PII masked', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      ['warehouse filtering on a masked column is refused', 'deny guardrail:inference', 'deny guardrail:inference', 'PASS'],
      ['warehouse UPDATE on orders waits for one dba', 'approval orders-writes-need-dba', 'approval orders-writes-need-dba', 'PASS'],
      ['warehouse DDL is refused', 'deny refuse-ddl', 'deny refuse-ddl', 'PASS'],
      ['pii-readers see customers in clear', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      ['pii-readers may filter on PII', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      ['warehouse pii-readers see customers in clear', 'allow analysts-read', 'allow analysts-read', 'PASS'],
      [''],
      ['18 fixtures: 18 passed, 0 failed'],
    ]);
  });

  it('the fixtures shown in docs/policy-as-code.md pass on the demo config', async () => {
    const doc = readFileSync(join(root, 'docs/policy-as-code.md'), 'utf8');
    const snippet = /```yaml\n(fixtures:\n[\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(snippet, 'docs/policy-as-code.md shows a fixture file');
    const r = await airlock(['policy', 'test', fixtureDir(snippet)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^3 fixtures: 3 passed, 0 failed$/m);
  });

  it('a fixture expecting the wrong masking fails, naming the column and both actions', async () => {
    const dir = fixtureDir(analystReads('{ email: redact, ssn: redact }'));
    const r = await airlock(['policy', 'test', dir, '--config', demoConfigPath]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(2), [
      'fixture                  expected             got                  result',
      'analysts read customers  allow analysts-read  allow analysts-read  FAIL',
      '',
      `FAIL analysts read customers (${relative(root, join(dir, 'fixtures.yaml'))}:2)`,
      '  masking of column email: expected redact, got email',
      '',
      '1 fixture: 0 passed, 1 failed',
    ]);
  });

  it('a column expected masked that comes back clear fails with both actions', async () => {
    const dir = fixtureDir(analystReads('{ email: email, ssn: redact, id: hash }'));
    const r = await airlock(['policy', 'test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^ {2}masking of column id: expected hash, got clear$/m);
    assert.doesNotMatch(r.stdout, /masking of column (email|ssn)/);
  });

  it('a wrong decision fails with the decision and the reason', async () => {
    const dir = fixtureDir(`fixtures:
  - name: analysts drop a table
    connection: warehouse
    principal: { subject: agent-1, groups: [analysts] }
    statement: DROP TABLE orders
    expect: { decision: allow, rule: refuse-ddl }
`);
    const r = await airlock(['policy', 'test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^analysts drop a table {2}allow refuse-ddl {2}deny refuse-ddl {2}FAIL$/m);
    assert.match(r.stdout, /^ {2}decision: expected allow, got deny \(DDL and GRANT are not allowed through Airlock; ask a DBA to make schema changes\)$/m);
  });

  it('an unknown field and a bad masking action are named with the file and line', async () => {
    const dir = fixtureDir(analystReads('{ email: scramble }').replace('      rule: analysts-read\n', '      rule: analysts-read\n      maskd: {}\n'));
    const r = await airlock(['policy', 'test', join(dir, 'fixtures.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fixtures\.yaml: invalid policy fixtures:\n {2}- line 9: \/fixtures\/0\/expect\/maskd: unknown field "maskd"\n {2}- line 10: \/fixtures\/0\/expect\/masked\/email: "scramble" is not a masking action \(clear, redact, null, email, hash, partial <n>\)\n/);
    assert.equal(r.stdout, '');
  });

  it('malformed YAML is named with the file, line and column', async () => {
    const dir = fixtureDir('fixtures:\n  - name: broken\n    principal: { subject: a, groups: [x }\n');
    const r = await airlock(['policy', 'test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fixtures\.yaml: invalid policy fixtures:\n {2}- line 3, column 41: Flow sequence in block collection must be sufficiently indented and end with a \]\n/);
  });

  it('--help prints the usage of every policy command', async () => {
    const r = await airlock(['policy', 'test', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: airlock policy check --connection <name>/m);
    assert.match(r.stdout, /^ {7}airlock policy test \[dir or file\] \[--config <file>\]$/m);
    assert.match(r.stdout, /^ {7}airlock policy snapshot --connection <name> \[--out <file>\] \[--config <file>\]$/m);
  });

  it('a fixture name used twice is named with both places', async () => {
    const one = analystReads('{}').replace('fixtures:\n', '');
    const r = await airlock(['policy', 'test', fixtureDir(`fixtures:\n${one}${one}`)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fixtures\.yaml:10: fixture name "analysts read customers" is used twice \(first at .*fixtures\.yaml:2\)/);
  });

  it('policy check --snapshot explains a decision offline with the snapshot\'s columns for *', async () => {
    const check = (snapshot: string) =>
      airlock(['policy', 'check', '--connection', 'demo', '--groups', 'analysts', '--sql', 'SELECT * FROM customers', '--snapshot', join(shipped, snapshot)]);
    const r = await check('demo.catalog.json');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^note:/m);
    assert.match(r.stdout, /^ {2}6\. ssn {2}← public\.customers\.ssn {2}→ redact\n {2}7\. notes {2}← public\.customers\.notes {2}→ clear$/m);
    const wrong = await check('warehouse.catalog.json');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /warehouse\.catalog\.json is a snapshot of connection "warehouse", not "demo"/);
  });

  it('a connection without a snapshot is named, with the command that writes one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-test-'));
    writeFileSync(join(dir, 'f.yaml'), analystReads('{}'));
    const r = await airlock(['policy', 'test', dir]);
    assert.equal(r.code, 1);
    assert.ok(
      r.stderr.includes(`f.yaml:2: connection "demo" has no catalogue snapshot in ${dir}; write one with airlock policy snapshot --connection demo --out ${dir}/demo.catalog.json`),
      r.stderr,
    );
  });
});

describe('airlock policy snapshot', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    db = await freshDatabase('airlock_snapshot');
    await seedDemoDatabase(db.url);
  });
  after(async () => {
    await db.drop();
  });
  const snapshot = (args: string[], env: Record<string, string | undefined>) =>
    exec(process.execPath, [bin, 'policy', 'snapshot', ...args], { cwd: root, env: { ...process.env, AIRLOCK_CONFIG: '', ...env } });

  it('writes the catalogue of a PostgreSQL connection, which policy test then uses', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('ALTER TABLE customers ADD COLUMN iban text');
    await client.end();
    const dir = mkdtempSync(join(tmpdir(), 'airlock-snapshot-'));
    const out = join(dir, 'demo.catalog.json');
    const { stdout } = await snapshot(['--connection', 'demo', '--out', out], { AIRLOCK_DEMO_ADMIN_URL: db.url });
    assert.equal(stdout, `wrote ${out}: 2 tables of connection "demo"\n`);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), {
      connection: 'demo',
      searchPath: ['public'],
      tables: [
        { schema: 'public', table: 'customers', columns: ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes', 'iban'] },
        { schema: 'public', table: 'orders', columns: ['id', 'customer_id', 'total', 'created_at'] },
      ],
    });
    // `*` expands to the snapshot's columns: iban is there only because the snapshot has it
    writeFileSync(join(dir, 'star.yaml'), `fixtures:
  - name: star reads the snapshot's columns
    connection: demo
    principal: { subject: agent-1, groups: [analysts] }
    statement: SELECT * FROM customers
    expect:
      decision: allow
      masked: { email: email, phone: partial 4, card_number: partial 4, ssn: redact, iban: clear }
`);
    const r = await exec(process.execPath, [bin, 'policy', 'test', dir], {
      cwd: root,
      env: { ...process.env, AIRLOCK_CONFIG: '', NATS_URL: `nats://127.0.0.1:${await freePort()}`, DATABASE_URL: `postgres://127.0.0.1:${await freePort()}/x` },
    });
    assert.match(r.stdout, /^star reads the snapshot's columns {2}allow {5}allow analysts-read {2}PASS$/m);
    assert.match(r.stdout, /^1 fixture: 1 passed, 0 failed$/m);
  });

  it('the shipped demo snapshots are what it writes from freshly seeded demo databases', async () => {
    const wdb = await freshDatabase('airlock_snapshot_wh');
    const warehouse = await startDemoWarehouse({ databaseUrl: wdb.url });
    try {
      const env = { AIRLOCK_DEMO_ADMIN_URL: db.url, AIRLOCK_WAREHOUSE_URL: warehouse.url, AIRLOCK_WAREHOUSE_ADMIN_KEY: warehouse.adminPrivateKeyPem };
      const fresh = await freshDatabase('airlock_snapshot_demo');
      try {
        await seedDemoDatabase(fresh.url);
        const demo = await snapshot(['--connection', 'demo'], { ...env, AIRLOCK_DEMO_ADMIN_URL: fresh.url });
        assert.equal(demo.stdout, readFileSync(join(shipped, 'demo.catalog.json'), 'utf8'));
      } finally {
        await fresh.drop();
      }
      const wh = await snapshot(['--connection', 'warehouse'], env);
      assert.equal(wh.stdout, readFileSync(join(shipped, 'warehouse.catalog.json'), 'utf8'));
    } finally {
      await warehouse.close();
      await wdb.drop();
    }
  });

  it('an unreachable connection fails with its name and the driver error, and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-snapshot-'));
    const port = await freePort();
    await assert.rejects(
      snapshot(['--connection', 'demo', '--out', join(dir, 'demo.catalog.json')], { AIRLOCK_DEMO_ADMIN_URL: `postgres://postgres:s3cret@127.0.0.1:${port}/airlock_demo` }),
      (e: { code: number; stdout: string; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, new RegExp(`^cannot read the catalogue of connection "demo": connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`, 'm'));
        assert.doesNotMatch(e.stderr, /s3cret/);
        return true;
      },
    );
    assert.throws(() => readFileSync(join(dir, 'demo.catalog.json')), /ENOENT/);
  });
});
