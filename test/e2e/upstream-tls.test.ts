// Upstream TLS by default: the credential service and the proxy reach an upstream PostgreSQL over TLS, the server's
// certificate verified, unless the connection says otherwise explicitly (`sslmode=disable` in the admin URL or
// `tls: disable`). A server that does not offer TLS is refused with an error that says so, before any credential is
// created; modes that fall back to clear text on their own are refused. The TLS upstream here is a small
// TLS-terminating relay in front of the test PostgreSQL (which speaks clear text only): it answers SSLRequest with
// `S`, and counts the TLS sessions and any clear-text start-up it sees.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { seedDemoDatabase } from '@airlock/cli';
import { PostgresEngine, resolveUpstreamTls } from '@airlock/credential';
import { freshDatabase, rolesWithPrefix, startTestStack, uniqueSuffix, type TestStack } from '@airlock/testkit';

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

interface Relay {
  port: number;
  tlsSessions: number;
  clearStartups: number;
  close(): Promise<void>;
}

/** Accepts PostgreSQL clients that ask for TLS, terminates it, and pipes the clear stream to 127.0.0.1:5432. */
async function startTlsRelay(cert: Buffer, key: Buffer): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const relay: Relay = { port: 0, tlsSessions: 0, clearStartups: 0, close: async () => undefined };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first) => {
      if (first.length < 8 || !first.subarray(0, 8).equals(SSL_REQUEST)) {
        relay.clearStartups += 1;
        socket.destroy();
        return;
      }
      socket.write('S');
      const secure = new tls.TLSSocket(socket, { isServer: true, cert, key });
      secure.on('error', () => socket.destroy());
      secure.once('secure', () => {
        relay.tlsSessions += 1;
        const upstream = net.connect(5432, '127.0.0.1');
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => secure.destroy());
        secure.pipe(upstream).pipe(secure);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as net.AddressInfo).port;
  relay.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return relay;
}

describe('upstream TLS by default', () => {
  let dir: string;
  let relay: Relay;
  let demo: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-upstream-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=upstream', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'upstream.key'), '-out', join(dir, 'upstream.crt'),
    ], { stdio: 'ignore' });
    relay = await startTlsRelay(readFileSync(join(dir, 'upstream.crt')), readFileSync(join(dir, 'upstream.key')));
    demo = await freshDatabase('airlock_upstream_tls');
    await seedDemoDatabase(demo.url);
  });
  after(async () => {
    await relay?.close();
    await demo?.drop();
  });

  it('an admin URL that says nothing about TLS gets TLS: a server without it is refused, clearly, before any role exists', async () => {
    const prefix = `airlock_t${uniqueSuffix()}_`;
    const url = new URL(demo.url);
    url.password = 'not-a-real-password';
    const engine = new PostgresEngine(url.toString());
    try {
      await assert.rejects(engine.mint({ username: `${prefix}a`, role: 'demo_reader', expiresAt: new Date(Date.now() + 60_000) }), (err: Error) => {
        assert.equal(
          err.message,
          'the upstream PostgreSQL at 127.0.0.1:5432 does not offer TLS, which Airlock requires by default: enable TLS on the server, or say sslmode=disable in the admin URL (or tls: disable on the connection) to connect in clear text',
        );
        return true;
      });
      assert.deepEqual(await rolesWithPrefix(prefix), []);
    } finally {
      await engine.close();
    }
  });

  it('modes that fall back to clear text, and a contradiction between URL and config, are refused', () => {
    for (const mode of ['prefer', 'allow']) {
      assert.throws(() => new PostgresEngine(`${demo.url}?sslmode=${mode}`), {
        message: `sslmode=${mode} may fall back to clear text: use sslmode=verify-full (the default), or sslmode=disable to connect in clear text explicitly`,
      });
    }
    assert.throws(() => resolveUpstreamTls(`${demo.url}?sslmode=verify-full`, 'disable'), /contradicts/);
    assert.deepEqual(resolveUpstreamTls(`${demo.url}?sslmode=disable`), { ssl: false });
    assert.deepEqual(resolveUpstreamTls(demo.url, 'disable'), { ssl: false });
    assert.deepEqual(resolveUpstreamTls(demo.url), { ssl: true });
  });

  it('a certificate the configuration does not trust is refused', async () => {
    const prefix = `airlock_t${uniqueSuffix()}_`;
    const engine = new PostgresEngine(`postgres://postgres@127.0.0.1:${relay.port}/${new URL(demo.url).pathname.slice(1)}`);
    try {
      await assert.rejects(engine.mint({ username: `${prefix}a`, role: 'demo_reader', expiresAt: new Date(Date.now() + 60_000) }), /self-signed certificate/);
      assert.deepEqual(await rolesWithPrefix(prefix), []);
    } finally {
      await engine.close();
    }
  });

  describe('through the whole stack, with a TLS upstream', () => {
    let t: TestStack;
    before(async () => {
      t = await startTestStack({
        configure: (c) => {
          const conn = c['connections']['demo'];
          const db = new URL(conn['adminUrl']).pathname;
          // the demo config says tls: disable for its local server; this upstream is reached the default way
          delete conn['tls'];
          conn['adminUrl'] = `postgres://postgres@127.0.0.1:${relay.port}${db}?sslrootcert=${encodeURIComponent(join(dir, 'upstream.crt'))}`;
        },
      });
    });
    after(async () => {
      await t?.close();
    });

    it('the credential service and the proxy both reach the upstream over TLS; nothing starts in clear text', async () => {
      const before = relay.tlsSessions;
      const token = await t.token({ subject: 'agent-tls', groups: ['analysts'] });
      const c = new pg.Client({ connectionString: t.pgUrl(token) });
      await c.connect();
      try {
        assert.deepEqual((await c.query('SELECT id FROM orders WHERE id = 1')).rows, [{ id: 1 }]);
      } finally {
        await c.end();
      }
      // the proxy's lease session during the query, and the credential service's admin session (maybe earlier)
      assert.ok(relay.tlsSessions - before >= 1, `TLS sessions through the relay during the query: ${relay.tlsSessions - before}`);
      assert.ok(relay.tlsSessions >= 2, `TLS sessions through the relay: ${relay.tlsSessions}`);
      assert.equal(relay.clearStartups, 0);
    });
  });
});
