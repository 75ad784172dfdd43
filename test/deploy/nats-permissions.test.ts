// The per-service NATS permissions (deploy/nats/) against a real nats-server started with that configuration:
// forbidden publishes and subscriptions are refused, allowed request/reply works, and the whole stack runs on it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import * as contracts from '@airlock/contracts';
import { credentialV1, eventSubject, requestSubject } from '@airlock/contracts';
import { demoConfigPath, parseConfig } from '@airlock/config';
import { Bus, createLogger, newContext } from '@airlock/runtime';
import { seedDemoDatabase, startStack, serviceNames, type RunningService } from '@airlock/cli';
import { devIssuerSettings, loadOrCreateDevKey, mintDevToken } from '@airlock/identity';
import { eventually, freshDatabase, rolesWithPrefix, databaseUrl, uniqueSuffix, ephemeralPorts, withoutDemoSignIn } from '@airlock/testkit';
import {
  auditDurable,
  inboxPrefix,
  passwordVariable,
  permissionsFor,
  permissionsPath,
  published,
  renderPermissions,
  served,
  services,
  usage,
  type Service,
} from '../../scripts/nats-permissions.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const natsServerBinary = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';
const stream = 'AIRLOCK_EVENTS';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface NatsServer {
  url: string;
  passwords: Record<Service, string>;
  stop(): Promise<void>;
}

/** Starts a private nats-server from deploy/nats/nats-server.conf with its listen address and store moved to a temp dir. */
async function startNatsServer(): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-nats-'));
  const port = await freePort();
  const monitor = await freePort();
  let conf = readFileSync(join(repo, 'deploy/nats/nats-server.conf'), 'utf8');
  const replace = (pattern: RegExp, value: string) => {
    assert.match(conf, pattern, `deploy/nats/nats-server.conf no longer has ${pattern}`);
    conf = conf.replace(pattern, value);
  };
  replace(/^listen: .*$/m, `listen: 127.0.0.1:${port}`);
  replace(/^http: .*$/m, `http: 127.0.0.1:${monitor}`);
  replace(/^(\s*)store_dir: .*$/m, `$1store_dir: ${JSON.stringify(join(dir, 'jetstream'))}`);
  writeFileSync(join(dir, 'nats-server.conf'), conf);
  writeFileSync(join(dir, 'permissions.conf'), readFileSync(permissionsPath, 'utf8'));
  const passwords = Object.fromEntries(services.map((s) => [s, `pw${randomBytes(12).toString('hex')}`])) as Record<Service, string>;
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '' };
  for (const s of services) env[passwordVariable(s)] = passwords[s];
  const child: ChildProcess = spawn(natsServerBinary, ['-c', join(dir, 'nats-server.conf')], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString('utf8');
      if (log.includes('Server is ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${log.slice(-500)}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await ready.finally(() => clearTimeout(timeout));
  return {
    url: `nats://127.0.0.1:${port}`,
    passwords,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function login(server: NatsServer, service: Service): Promise<NatsConnection> {
  return connect({ servers: server.url, user: service, pass: server.passwords[service], inboxPrefix: inboxPrefix(service) });
}

/** Resolves with the first permission-violation message the connection reports. */
function nextViolation(nc: NatsConnection): Promise<string> {
  return (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error.name === 'PermissionViolationError') return s.error.message;
    }
    return 'connection closed without a permission violation';
  })();
}

// ---- the usage table against the sources -------------------------------------------------------------

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? tsFiles(path) : path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

/**
 * `familyV1.name` references after `.serve(`, `.call(`, `.publish(` or `.emit(` in the given source text; a call also
 * counts when it is a `new TrustedKeys(bus, familyV1.keys, …)`, which calls that keys subject.
 */
function references(text: string, verbs: string[]): string[] {
  const out = new Set<string>();
  const re = new RegExp(`\\.(?:${verbs.join('|')})\\(\\s*(\\w+V1)\\.(\\w+)`, 'g');
  const keys = /new TrustedKeys\(\s*[\w.]+,\s*(\w+V1)\.(\w+)/g;
  for (const m of [...text.matchAll(re), ...(verbs.includes('call') ? text.matchAll(keys) : [])]) {
    const d = (contracts as unknown as Record<string, Record<string, { kind: string; family: string; operation?: string; event?: string }>>)[m[1]!]?.[m[2]!];
    assert.ok(d, `${m[1]}.${m[2]} is not a contract descriptor`);
    out.add(d.kind === 'request' ? `${d.family}.${d.operation}` : `evt.${d.family}.${d.event}`);
  }
  return [...out].sort();
}

/** What each service's code serves, calls and publishes: its own folder plus its wiring in the CLI's stack.ts. */
function scanSources(): Record<Service, { serves: string[]; calls: string[]; publishes: string[]; listens: string[]; consumes: string[] }> {
  const stack = readFileSync(join(repo, 'packages/cli/src/stack.ts'), 'utf8');
  const wiring: Record<string, string> = {};
  const parts = stack.split(/case '(\w+)': \{/);
  for (let i = 1; i < parts.length; i += 2) wiring[parts[i]!] = parts[i + 1]!.split(/\n\s*case '/)[0]!;
  const out = {} as ReturnType<typeof scanSources>;
  for (const s of services) {
    const text = tsFiles(join(repo, 'services', s, 'src'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n') + (wiring[s] ?? '');
    out[s] = {
      serves: references(text, ['serve']),
      calls: references(text, ['call']),
      publishes: references(text, ['publish', 'emit']),
      listens: references(text, ['listen']),
      // the durable name literal in the first argument of consume()/consumeBatches()
      consumes: [...text.matchAll(/\.consume(?:Batches)?\(\s*[^,]*?'([a-z0-9-]+)'/g)].map((m) => m[1]!).sort(),
    };
  }
  return out;
}

describe('NATS permissions are generated and match what the services do', () => {
  it('deploy/nats/permissions.conf is what scripts/nats-permissions.ts generates', () => {
    assert.equal(readFileSync(permissionsPath, 'utf8'), renderPermissions('airlock'));
  });

  it('every service is covered, and the usage table is exactly what the code serves, calls, publishes and consumes', () => {
    assert.deepEqual([...services].sort(), [...serviceNames].sort());
    const code = scanSources();
    for (const s of services) {
      assert.deepEqual(code[s].calls, usage[s].calls.map((d) => `${d.family}.${d.operation}`).sort(), `${s}: calls`);
      assert.deepEqual(code[s].consumes, [...(usage[s].consumes ?? [])].sort(), `${s}: durable consumers`);
      assert.deepEqual(code[s].listens, (usage[s].listens ?? []).map((d) => `evt.${d.family}.${d.event}`).sort(), `${s}: events heard`);
      // serving and publishing are granted per family: the code may use no subject outside its family
      for (const x of code[s].serves) assert.ok(served(s).some((d) => `${d.family}.${d.operation}` === x), `${s} serves ${x} outside its family`);
      for (const x of code[s].publishes) assert.ok(published(s).some((d) => `evt.${d.family}.${d.event}` === x), `${s} publishes ${x} outside its family`);
    }
    // the table is not vacuous: the proxy's calls and the audit's consumer are seen in the code
    assert.deepEqual(code.proxy.calls, [
      'approval.status',
      'approval.submit',
      'credential.catalog',
      'credential.heartbeat',
      'credential.issue',
      'credential.revoke',
      'credential.standby',
      'credential.upstream-session',
      'identity.verify',
      'policy.decide',
      'policy.explain-access',
      'policy.keys',
    ]);
    assert.deepEqual(code.proxy.listens, ['evt.approval.decided', 'evt.policy.epoch-changed']);
    assert.deepEqual(code.credential.serves, ['credential.catalog', 'credential.heartbeat', 'credential.issue', 'credential.list-leases', 'credential.revoke', 'credential.standby', 'credential.upstream-session']);
    assert.deepEqual(code.audit.consumes, [auditDurable, 'airlock-audit-forward']);
  });
});

describe('a real nats-server with deploy/nats/nats-server.conf', () => {
  let server: NatsServer;
  const open: NatsConnection[] = [];
  const logger = createLogger({ service: 'nats-permissions-test', level: 'error' });

  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    for (const nc of open) await nc.close().catch(() => undefined);
    await server?.stop();
  });

  const as = async (s: Service) => {
    const nc = await login(server, s);
    open.push(nc);
    return nc;
  };

  it('refuses a login with a wrong password', async () => {
    await assert.rejects(connect({ servers: server.url, user: 'proxy', pass: 'not-the-password', reconnect: false }), /Authorization Violation/i);
  });

  it('refuses the proxy publishing an approval decision or a credential event, and accepts its own events', async () => {
    const nc = await as('proxy');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: ['airlock.evt.>'] });
    const js = jetstream(nc);
    await assert.rejects(js.publish('airlock.evt.approval.v1.decided', '{}', { timeout: 2000 }), {
      message: 'Permissions Violation for Publish to "airlock.evt.approval.v1.decided"',
    });
    await assert.rejects(js.publish('airlock.evt.credential.v1.issued', '{}', { timeout: 2000 }), {
      message: 'Permissions Violation for Publish to "airlock.evt.credential.v1.issued"',
    });
    const violation = nextViolation(nc);
    nc.publish('airlock.evt.credential.v1.revoked', '{}');
    assert.equal(await violation, 'Permissions Violation for Publish to "airlock.evt.credential.v1.revoked"');
    const ack = await js.publish('airlock.evt.proxy.v1.session-opened', '{}');
    assert.equal(ack.stream, stream);
    const info = await jsm.streams.info(stream, { subjects_filter: 'airlock.evt.>' });
    // only the proxy's own event reached the stream
    assert.deepEqual(info.state.subjects, { 'airlock.evt.proxy.v1.session-opened': 1 });
  });

  it('refuses the proxy deleting or changing the event stream', async () => {
    const nc = await as('proxy');
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.delete(stream), { message: `Permissions Violation for Publish to "$JS.API.STREAM.DELETE.${stream}"` });
    await assert.rejects(jsm.streams.purge(stream), { message: `Permissions Violation for Publish to "$JS.API.STREAM.PURGE.${stream}"` });
  });

  it('lets only the audit user create and read the audit consumer', async () => {
    const audit = await as('audit');
    const ajsm = await jetstreamManager(audit);
    await ajsm.consumers.add(stream, { durable_name: auditDurable, ack_policy: AckPolicy.Explicit, filter_subject: 'airlock.evt.>' });
    const consumer = await jetstream(audit).consumers.get(stream, auditDurable);
    const m = await consumer.next({ expires: 2000 });
    assert.equal(m?.subject, 'airlock.evt.proxy.v1.session-opened');
    await m!.ackAck();

    for (const other of ['proxy', 'policy', 'credential'] as const) {
      const nc = await as(other);
      await assert.rejects(jetstream(nc).consumers.get(stream, auditDurable), {
        message: `Permissions Violation for Publish to "$JS.API.CONSUMER.INFO.${stream}.${auditDurable}"`,
      });
      await assert.rejects(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${auditDurable}`, '{"batch":1}', { timeout: 2000 }), {
        message: `Permissions Violation for Publish to "$JS.API.CONSUMER.MSG.NEXT.${stream}.${auditDurable}"`,
      });
      const violation = nextViolation(nc);
      nc.subscribe('airlock.evt.>');
      assert.equal(await violation, 'Permissions Violation for Subscription to "airlock.evt.>"');
    }
    // the audit user itself reaches no other consumer
    await assert.rejects(ajsm.consumers.add(stream, { durable_name: 'siphon', ack_policy: AckPolicy.Explicit }), {
      message: `Permissions Violation for Publish to "$JS.API.CONSUMER.CREATE.${stream}.siphon"`,
    });
  });

  it('lets the credential user serve credential.issue in its queue group, and nothing else', async () => {
    const credential = await as('credential');
    const sub = credential.subscribe('airlock.credential.v1.issue', { queue: 'airlock-credential' });
    void (async () => {
      for await (const m of sub) m.respond(`issued:${m.string()}`);
    })();
    await credential.flush();
    const proxy = await as('proxy');
    const reply = await proxy.request('airlock.credential.v1.issue', 'lease-please', { timeout: 2000 });
    assert.equal(reply.string(), 'issued:lease-please');

    const other = await as('credential');
    const violation = nextViolation(other);
    other.subscribe('airlock.credential.v1.issue', { queue: 'eavesdrop' });
    assert.equal(await violation, 'Permissions Violation for Subscription to "airlock.credential.v1.issue" using queue "eavesdrop"');
    // the proxy may call it but not serve it
    const proxy2 = await as('proxy');
    const v2 = nextViolation(proxy2);
    proxy2.subscribe('airlock.credential.v1.issue', { queue: 'airlock-credential' });
    assert.match(await v2, /^Permissions Violation for Subscription to "airlock\.credential\.v1\.issue"/);
    // and no one may read another service's replies
    const v3 = nextViolation(proxy2);
    proxy2.subscribe('_INBOX_policy.>');
    assert.equal(await v3, 'Permissions Violation for Subscription to "_INBOX_policy.>"');
  });

  it('lets no service but credential answer or publish a credential subject; the proxy alone may ask for a lease', async () => {
    const requests = served('credential').map((d) => requestSubject('airlock', d));
    const events = published('credential').map((d) => eventSubject('airlock', d));
    assert.ok(requests.includes('airlock.credential.v1.issue') && events.includes('airlock.evt.credential.v1.refused'), 'not vacuous');
    for (const other of services.filter((x) => x !== 'credential')) {
      const nc = await as(other);
      for (const subject of requests) {
        for (const queue of [undefined, 'airlock-credential']) {
          const violation = nextViolation(nc);
          nc.subscribe(subject, queue ? { queue } : {});
          assert.match(await violation, new RegExp(`^Permissions Violation for Subscription to "${subject.replaceAll('.', '\\.')}"`), `${other} may not answer ${subject}`);
        }
      }
      for (const subject of events) {
        const violation = nextViolation(nc);
        nc.publish(subject, '{}');
        assert.equal(await violation, `Permissions Violation for Publish to "${subject}"`, `${other} may not publish ${subject}`);
      }
      // asking for a lease: the proxy only (and what it asks for is checked against a signed decision)
      const issue = requestSubject('airlock', credentialV1.issueLease);
      assert.equal(permissionsFor(other, 'airlock').publish.includes(issue), other === 'proxy', `${other} publishes ${issue}`);
    }
  });

  it('lets only the console ask credential for the live leases', async () => {
    const subject = requestSubject('airlock', credentialV1.listLeases);
    const credential = await as('credential');
    const sub = credential.subscribe(subject, { queue: 'airlock-credential' });
    void (async () => {
      for await (const m of sub) m.respond('{"leases":[]}');
    })();
    await credential.flush();
    const consoleUser = await as('console');
    assert.equal((await consoleUser.request(subject, '{}', { timeout: 2000 })).string(), '{"leases":[]}');
    for (const other of services.filter((x) => x !== 'console' && x !== 'credential')) {
      assert.equal(permissionsFor(other, 'airlock').publish.includes(subject), false, `${other} publishes ${subject}`);
      const nc = await as(other);
      const violation = nextViolation(nc);
      nc.publish(subject, '{}');
      assert.equal(await violation, `Permissions Violation for Publish to "${subject}"`, `${other} may not list leases`);
    }
  });

  it('carries a policy request to the credential catalog end to end through two Bus connections', async () => {
    const credential = await Bus.connect({ url: server.url, root: 'airlock', service: 'credential', logger, user: 'credential', pass: server.passwords.credential });
    const policy = await Bus.connect({ url: server.url, root: 'airlock', service: 'policy', logger, user: 'policy', pass: server.passwords.policy });
    try {
      credential.serve(credentialV1.catalog, async (req) => ({
        connection: req.connection,
        searchPath: ['public'],
        tables: [{ schema: 'public', table: 'orders', columns: ['id', 'total'] }],
      }));
      await credential.nc.flush();
      const res = await policy.call(credentialV1.catalog, { connection: 'demo' }, newContext());
      assert.deepEqual(res, { connection: 'demo', searchPath: ['public'], tables: [{ schema: 'public', table: 'orders', columns: ['id', 'total'] }] });
    } finally {
      await policy.close();
      await credential.close();
    }
  });
});

describe('the whole stack on the least-privilege nats-server', () => {
  let server: NatsServer;
  const running: RunningService[] = [];
  let stateDb: { name: string; url: string; drop(): Promise<void> } | undefined;
  let demoDb: { name: string; url: string; drop(): Promise<void> } | undefined;
  let dir: string | undefined;
  const rolePrefix = `airlock_np${uniqueSuffix()}_`;

  before(async () => {
    server = await startNatsServer();
  });
  after(async () => {
    for (const s of running.reverse()) await s.close().catch(() => undefined);
    await server?.stop();
    for (const role of await rolesWithPrefix(rolePrefix)) {
      const admin = new pg.Client({ connectionString: databaseUrl('postgres') });
      await admin.connect();
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`).catch(() => undefined);
      await admin.end();
    }
    await demoDb?.drop();
    await stateDb?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a statement through the PostgreSQL front door with every service on its own NATS user', async () => {
    stateDb = await freshDatabase('airlock_np_state');
    demoDb = await freshDatabase('airlock_np_demo');
    await seedDemoDatabase(demoDb.url);
    const config = withoutDemoSignIn(parse(readFileSync(demoConfigPath, 'utf8')) as Record<string, any>);
    config['connections']['demo']['adminUrl'] = demoDb.url;
    config['connections']['demo']['leases']['rolePrefix'] = rolePrefix;
    delete config['connections']['warehouse'];
    dir = mkdtempSync(join(tmpdir(), 'airlock-np-'));
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, stringify(config));
    const common = {
      NATS_URL: server.url,
      DATABASE_URL: stateDb.url,
      AIRLOCK_CONFIG: configPath,
      AIRLOCK_SUBJECT_ROOT: 'airlock',
      AIRLOCK_LOG_LEVEL: 'error',
      ...ephemeralPorts,
      // the demo config's development issuer runs only in demo mode; keys in this test's own state folder
      AIRLOCK_DEMO: '1',
      AIRLOCK_STATE_DIR: join(dirname(configPath), 'state'),
    };
    // as `airlock up` runs them: one process, each service on its own user from AIRLOCK_NATS_<SERVICE>_PASSWORD
    const stack = await startStack({ ...common, ...Object.fromEntries(serviceNames.map((name) => [passwordVariable(name), server.passwords[name]])) }, { logger: createLogger({ service: 'airlock', level: 'error' }) });
    running.push(...stack.services);
    assert.deepEqual(
      stack.services.map((s) => [s.name, s.host.env.natsUser]),
      serviceNames.map((name) => [name, name]),
    );
    const ports = stack.ports;

    const token = await mintDevToken(await loadOrCreateDevKey(common), devIssuerSettings(parseConfig(stringify(config))), {
      subject: 'agent-np',
      groups: ['analysts'],
    });

    const client = new pg.Client({ connectionString: `postgresql://agent:${encodeURIComponent(token)}@127.0.0.1:${ports['pgwire']}/demo?sslmode=disable` });
    await client.connect();
    try {
      const res = await client.query({ text: 'SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 2', rowMode: 'array' });
      const direct = new pg.Client({ connectionString: demoDb.url });
      await direct.connect();
      const expected = await direct.query({ text: 'SELECT id, customer_id, total FROM orders ORDER BY id LIMIT 2', rowMode: 'array' });
      await direct.end();
      assert.equal(res.rows.length, 2);
      assert.deepEqual(res.rows, expected.rows);
      // a read whose rows reach the client before its end has its start recorded: query-started goes out too
      assert.equal((await client.query("SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 3000) AS g")).rowCount, 3000);
    } finally {
      await client.end();
    }

    // the audit service read every event through its own consumer, under its own user
    const state = new pg.Client({ connectionString: stateDb.url });
    await state.connect();
    try {
      const types = await eventually(async () => {
        const { rows } = await state.query<{ event_type: string }>('SELECT DISTINCT event_type FROM audit_events ORDER BY 1');
        const t = rows.map((r) => r.event_type);
        return t.includes('proxy.v1.query-completed') && t.includes('credential.v1.issued') ? t : undefined;
      }, 15_000, 'the audit log to record the statement');
      for (const t of ['identity.v1.token-verified', 'policy.v1.decided', 'credential.v1.issued', 'proxy.v1.session-opened', 'proxy.v1.query-started', 'proxy.v1.query-completed']) {
        assert.ok(types.includes(t), `audit recorded ${t} (got ${types.join(', ')})`);
      }
    } finally {
      await state.end();
    }
  });
});
