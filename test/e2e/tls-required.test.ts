// TLS that cannot be skipped: with proxy.tls configured and the PostgreSQL door bound beyond loopback, a client that
// never sends SSLRequest is refused before it is asked for its token (FATAL 28000, telling it to use sslmode=require);
// over TLS it connects. Real client: psql. Loopback connections to the same door stay as they were.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestStack, type TestStack } from '@airlock/testkit';

/** the machine's first non-loopback IPv4 address, if it has one */
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

function psql(conninfo: string, token: string, sql: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('psql', [conninfo, '-XAtc', sql], { env: { ...process.env, PGPASSWORD: token }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout.trim(), stderr: stderr.trim() }),
    );
  });
}

describe('TLS that cannot be skipped on the PostgreSQL door', { skip: outside ? false : 'this machine has no non-loopback IPv4 address to bind the door to' }, () => {
  let t: TestStack;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=airlock-test', '-addext', `subjectAltName=IP:${outside},IP:127.0.0.1`,
      '-keyout', join(dir, 'proxy.key'), '-out', join(dir, 'proxy.crt'),
    ], { stdio: 'ignore' });
    t = await startTestStack({
      env: { AIRLOCK_PGWIRE_HOST: '0.0.0.0' },
      configure: (c) => {
        c['proxy'] = { ...c['proxy'], allowInsecureNonLoopback: false, tls: { certPath: join(dir, 'proxy.crt'), keyPath: join(dir, 'proxy.key') } };
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  it('psql sslmode=disable against the non-loopback address is refused with 28000 before it sends the token', async () => {
    const token = await t.token({ subject: 'agent-clear', groups: ['analysts'] });
    const r = await psql(`host=${outside} port=${t.ports['pgwire']} user=agent dbname=demo sslmode=disable`, token, 'SELECT id FROM orders WHERE id = 1');
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /FATAL: {2}Airlock requires TLS on this address: your token would cross the network in clear text\. Connect with sslmode=require \(or verify-full with the proxy's CA\)/);
    // the same refusal through pg, which shows its SQLSTATE
    const client = new pg.Client({ host: outside, port: t.ports['pgwire'], user: 'agent', database: 'demo', password: token, ssl: false });
    client.on('error', () => undefined);
    await assert.rejects(client.connect(), (err: { code?: string; severity?: string }) => {
      assert.deepEqual([err.code, err.severity], ['28000', 'FATAL']);
      return true;
    });
    // no session was opened: the token never arrived
    assert.doesNotMatch(t.logs.text(), /agent-clear/);
  });

  it('psql sslmode=require and verify-full against the same address connect and query', async () => {
    const token = await t.token({ subject: 'agent-tls', groups: ['analysts'] });
    const base = `host=${outside} port=${t.ports['pgwire']} user=agent dbname=demo`;
    assert.deepEqual(await psql(`${base} sslmode=require`, token, 'SELECT id FROM orders WHERE id = 1'), { code: 0, stdout: '1', stderr: '' });
    assert.deepEqual(await psql(`${base} sslmode=verify-full sslrootcert=${join(dir, 'proxy.crt')}`, token, 'SELECT id FROM orders WHERE id = 2'), { code: 0, stdout: '2', stderr: '' });
  });

  it('a loopback client of the same door is not asked for TLS', async () => {
    const client = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'agent-local', groups: ['analysts'] })) });
    await client.connect();
    try {
      assert.deepEqual((await client.query('SELECT id FROM orders WHERE id = 3')).rows, [{ id: 3 }]);
    } finally {
      await client.end();
    }
  });
});
