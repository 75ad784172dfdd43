import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { streamName } from '@airlock/runtime';
import { freePort, startNatsServer, type OwnServer } from '@airlock/testkit';
import { auditCommand } from '../../packages/cli/src/commands/audit.js';
import { rolesAt, spawnService, startFaultStack, waitUntil } from './helpers.js';

const clients = 16;

describe('fault: kill -9 of the proxy under load loses no record of a statement its client saw complete', () => {
  let nats: OwnServer;
  let t: Awaited<ReturnType<typeof startFaultStack>>;

  before(async () => {
    nats = await startNatsServer();
    // every service but the proxy runs here; the proxy runs in its own process so that it can be killed
    t = await startFaultStack({ nats, names: ['identity', 'policy', 'approval', 'credential', 'audit'] });
  });
  after(async () => {
    await t?.close();
    await nats?.destroy();
  });

  it(`${clients} clients; the event stream stalls, then the proxy dies: every completed statement has its queryCompleted`, async () => {
    const port = await freePort();
    const proxy = spawnService('proxy', { ...t.env, AIRLOCK_PGWIRE_PORT: String(port), AIRLOCK_HTTP_PORT: '0' });
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const stream = streamName(t.root);
    try {
      await proxy.waitFor(/proxy service running/);
      const token = await t.token({ subject: 'agent-durable', groups: ['analysts'] });
      const url = `postgresql://agent:${encodeURIComponent(token)}@127.0.0.1:${port}/demo?sslmode=disable`;
      // the tag of every statement whose CommandComplete its client received
      const completed: string[] = [];
      /** one client: distinct statements (its tag is in the SQL, so policy's decided event names it) until the proxy dies */
      const client = async (c: number) => {
        const pgc = new pg.Client({ connectionString: url });
        pgc.on('error', () => undefined);
        await pgc.connect();
        for (let n = 1; ; n++) {
          const tag = `c${c}n${n}`;
          try {
            const res = await pgc.query({ text: `SELECT id, '${tag}' AS tag FROM orders WHERE id = 1`, rowMode: 'array' });
            assert.deepEqual(res.rows, [[1, tag]]);
          } catch {
            return; // the proxy died (or refused to report a completion it could not record): this client stops
          }
          completed.push(tag);
        }
      };
      const load = Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
      await waitUntil(async () => completed.length >= clients * 4, 60_000, 'every client to have completed a few statements');

      // the stream stops storing (a full stream that discards new messages): the window between a statement's answer and
      // its record being stored, which a busy proxy always has, becomes wide enough to die in
      const { state } = await jsm.streams.info(stream);
      await jsm.streams.update(stream, { max_msgs: state.messages, discard: DiscardPolicy.New });
      await new Promise((r) => setTimeout(r, 1500));
      await proxy.kill9();
      assert.equal((await proxy.exited).signal, 'SIGKILL');
      await load;
      await jsm.streams.update(stream, { max_msgs: -1, discard: DiscardPolicy.Old });

      // policy (still running) stores its decided events once the stream takes them again; the audit service drains
      const decidedRows = async () =>
        t.auditRows("event_type = 'policy.v1.decided' AND payload->>'sql' LIKE 'SELECT id, ''c%'")
          .then((rows) => new Map(rows.map((r) => [/'(c\d+n\d+)'/.exec(r.payload.sql as string)![1]!, r.payload.requestId as string])));
      await waitUntil(async () => {
        const decided = await decidedRows();
        return completed.every((tag) => decided.has(tag));
      }, 30_000, 'the decided event of every completed statement');
      await waitUntil(async () => {
        const info = await jsm.consumers.info(stream, 'airlock-audit');
        return info.num_pending === 0 && info.num_ack_pending === 0;
      }, 30_000, 'the audit consumer to drain');

      const decided = await decidedRows();
      const recorded = new Set((await t.auditRows("event_type = 'proxy.v1.query-completed'")).map((r) => r.payload.requestId as string));
      const lost = completed.filter((tag) => !recorded.has(decided.get(tag)!));
      assert.deepEqual(lost, [], `completed statements without a queryCompleted record (of ${completed.length})`);

      const auditor = await t.token({ subject: 'auditor-1', groups: ['auditors'], audience: 'http://127.0.0.1:8082' });
      const lines: string[] = [];
      const code = await auditCommand(['verify', '--token', auditor], { AIRLOCK_AUDIT_URL: `http://127.0.0.1:${t.ports['audit']}` }, (l) => lines.push(l));
      assert.equal(code, 0, lines.join('\n'));
      assert.match(lines[0]!, /^audit chain intact: \d+ rows verified/);
      // the dead proxy's session leases are revoked once its heartbeat stops
      await waitUntil(async () => (await rolesAt(t.demoAdminUrl, t.rolePrefix)).length === 0, 30_000, 'the lease roles to be dropped');
    } finally {
      await proxy.kill9();
      await nc.close();
    }
  });
});
