import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import snowflake from 'snowflake-sdk';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { streamName } from '@airlock/runtime';
import { eventually, natsUrl, startTestStack, type TestStack } from '@airlock/testkit';

const notRecorded = /could not store the audit record of this statement in time/;

function sfConnect(options: snowflake.ConnectionOptions): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection(options);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

function sfExec(conn: snowflake.Connection, sqlText: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => conn.execute({ sqlText, complete: (err, _stmt, rows) => (err ? reject(err) : resolve(rows ?? [])) }));
}

/**
 * While the event stream stores nothing, a statement that ran is not reported complete: the PostgreSQL wire and the
 * Snowflake REST protocol each answer with an error in their own protocol after the bound, and the records of those
 * statements are stored once the stream takes events again. (The MCP endpoint reads results through the same
 * statement path, but every MCP request first has its token verified by identity, which itself stores its event before
 * answering: a stalled stream refuses an MCP call before any statement runs.)
 */
describe('a completion whose audit record cannot be stored is not reported', () => {
  let t: TestStack;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    t = await startTestStack({ keepWarehouse: true });
    nc = await natsConnect({ servers: natsUrl });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await t?.close();
  });

  it('answers an error instead of a completion while the stream refuses, then stores the records', async () => {
    const token = await t.token({ subject: 'agent-fail-closed', groups: ['analysts'] });
    const pgc = new pg.Client({ connectionString: t.pgUrl(token) });
    await pgc.connect();
    const sf = await sfConnect({ accessUrl: `http://127.0.0.1:${t.ports['http']}`, account: 'warehouse', authenticator: 'OAUTH', token } as snowflake.ConnectionOptions);
    const stream = streamName(t.root);
    try {
      // each door answers normally while the stream stores its records (and each session holds its lease: minting one
      // also stores an event first)
      assert.deepEqual((await pgc.query("SELECT id, 'pg-ok' AS tag FROM orders WHERE id = 1")).rows, [{ id: 1, tag: 'pg-ok' }]);
      assert.equal((await sfExec(sf, "SELECT id, 'sf-ok' AS tag FROM orders WHERE id = 1")).length, 1);

      // a full stream that discards new messages stores nothing
      const { state } = await jsm.streams.info(stream);
      await jsm.streams.update(stream, { max_msgs: state.messages, discard: DiscardPolicy.New });
      const [pgErr, sfErr] = await Promise.all([
        pgc.query("SELECT id, 'pg-stalled' AS tag FROM orders WHERE id = 1").then(
          () => assert.fail('the PostgreSQL front door reported a completion it could not record'),
          (e: { code?: string; message: string }) => e,
        ),
        sfExec(sf, "SELECT id, 'sf-stalled' AS tag FROM orders WHERE id = 1").then(
          () => assert.fail('the Snowflake front door reported a completion it could not record'),
          (e: { message: string }) => e,
        ),
      ]);
      await jsm.streams.update(stream, { max_msgs: -1, discard: DiscardPolicy.Old });

      assert.equal(pgErr.code, '08006');
      assert.match(pgErr.message, notRecorded);
      assert.match(sfErr.message, notRecorded);

      // the records were retried meanwhile: each statement is in the log, as completed
      const completedTags = await eventually(async () => {
        const decided = await t.auditRows("event_type = 'policy.v1.decided' AND payload->>'sql' LIKE '%-stalled%'");
        const completed = new Set((await t.auditRows("event_type = 'proxy.v1.query-completed'")).map((r) => r.payload.requestId as string));
        const tags = decided.filter((d) => completed.has(d.payload.requestId as string)).map((d) => /'(\w+-stalled)'/.exec(d.payload.sql as string)![1]!);
        return tags.length === 2 ? tags.sort() : undefined;
      }, 30_000, 'both records');
      assert.deepEqual(completedTags, ['pg-stalled', 'sf-stalled']);
    } finally {
      await jsm.streams.update(stream, { max_msgs: -1, discard: DiscardPolicy.Old }).catch(() => undefined);
      await pgc.end().catch(() => undefined);
      await new Promise<void>((resolve) => sf.destroy(() => resolve()));
    }
  });
});
