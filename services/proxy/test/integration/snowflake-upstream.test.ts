// The Snowflake engine's HTTP connections against the emulator: an upstream session sends its login and every
// statement on one kept-alive connection of its own, never on another session's, and closing the session closes it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { startDemoWarehouse, type DemoWarehouse } from '@airlock/demo';
import { freshDatabase } from '@airlock/testkit';
import { SnowflakeWireClient } from '../../src/engines/snowflake/wire-client.js';

/** One client connection seen by the relay: every byte the client sent on it, and whether it closed. */
interface SeenConnection {
  sent: string;
  closed: boolean;
  whenClosed: Promise<void>;
}

/**
 * A TCP relay in front of the emulator that records each client connection. When the emulator ends its side (its
 * keep-alive timeout), the relay opens another one for the next request, so only the client closes a connection.
 */
async function startRelay(target: URL): Promise<{ url: string; seen: SeenConnection[]; close(): Promise<void> }> {
  const seen: SeenConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    let markClosed!: () => void;
    const conn: SeenConnection = { sent: '', closed: false, whenClosed: new Promise((r) => (markClosed = r)) };
    seen.push(conn);
    let upstream: net.Socket | undefined;
    client.on('data', (data: Buffer) => {
      conn.sent += data.toString('latin1');
      if (!upstream || upstream.destroyed || !upstream.writable) {
        upstream = net.connect(Number(target.port), target.hostname);
        sockets.add(upstream);
        upstream.on('data', (d: Buffer) => client.write(d));
        upstream.on('error', () => undefined);
      }
      upstream.write(data);
    });
    client.on('error', () => undefined);
    client.on('close', () => {
      conn.closed = true;
      upstream?.destroy();
      markClosed();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const queryRequests = (c: SeenConnection) => c.sent.match(/POST \/queries\/v1\/query-request/g)?.length ?? 0;
const logins = (c: SeenConnection) => c.sent.match(/POST \/session\/v1\/login-request/g)?.length ?? 0;
const sessionTokens = (c: SeenConnection) => new Set([...c.sent.matchAll(/^authorization: Snowflake Token="([^"]+)"/gim)].map((m) => m[1]));

describe('the Snowflake engine on the emulator: HTTP connections', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let warehouse: DemoWarehouse;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  const login = () =>
    SnowflakeWireClient.login({ accessUrl: relay.url, account: 'AIRLOCK_DEMO', user: 'AIRLOCK_ADMIN', role: 'ACCOUNTADMIN', privateKeyPem: warehouse.adminPrivateKeyPem });
  const pointQuery = async (client: SnowflakeWireClient, id: number) => {
    const r = await client.query('SELECT id, customer_id FROM orders WHERE id = ?', [String(id)], { requestId: randomUUID() });
    assert.equal(r.rowset.length, 1);
    assert.equal(r.rowset[0]![0], String(id));
  };

  before(async () => {
    db = await freshDatabase('airlock_sfup');
    warehouse = await startDemoWarehouse({ databaseUrl: db.url });
    relay = await startRelay(new URL(warehouse.url));
  });
  after(async () => {
    await relay?.close();
    await warehouse?.close();
    await warehouse?.emulator.dropBackingRoles();
    await db?.drop();
  });

  it('keeps one connection per upstream session for its login and statements, never shared, closed when the session closes', async () => {
    const a = await login();
    for (const id of [1, 2, 3]) await pointQuery(a, id);
    assert.equal(relay.seen.length, 1, 'the login and three statements of one session travel on one connection');
    const [first] = relay.seen as [SeenConnection];
    assert.equal(logins(first), 1);
    assert.equal(queryRequests(first), 3);

    // a second session (another lease) opens its own connection, though the first one's is idle
    const b = await login();
    await pointQuery(b, 4);
    assert.equal(relay.seen.length, 2, "a second session does not borrow the first one's idle connection");
    const second = relay.seen[1]!;
    assert.equal(logins(second), 1);
    assert.equal(queryRequests(second), 1);
    assert.equal(sessionTokens(first).size, 1);
    assert.equal(sessionTokens(second).size, 1);
    assert.notDeepEqual(sessionTokens(first), sessionTokens(second));

    // each goes on with its own connection
    await pointQuery(a, 5);
    await pointQuery(b, 6);
    assert.equal(relay.seen.length, 2);
    assert.equal(queryRequests(first), 4);
    assert.equal(queryRequests(second), 2);

    // closing a session closes its connection (after the session's delete), and only its own
    await a.close();
    await first.whenClosed;
    assert.match(first.sent, /POST \/session\?delete=true/);
    assert.equal(second.closed, false);
    await pointQuery(b, 7);
    assert.equal(queryRequests(second), 3);
    await b.close();
    await second.whenClosed;
    assert.equal(relay.seen.length, 2);
  });
});
