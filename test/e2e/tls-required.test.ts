// TLS that cannot be skipped: with proxy.tls configured and the PostgreSQL door bound beyond loopback, a client that
// never sends SSLRequest is refused before it is asked for its token (FATAL 28000, telling it to use sslmode=require);
// over TLS it connects. Real client: psql. Loopback connections to the same door stay as they were. The HTTP doors
// (Snowflake, SQL API, MCP) serve HTTPS with the same certificate, take a renewed certificate without a restart, and
// the proxy refuses to start on a non-loopback HTTP address without TLS. So do the approval and audit APIs, which
// serve HTTPS with http.tls.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig } from '@airlock/config';
import { createLogger } from '@airlock/runtime';
import { startProxy } from '@airlock/proxy';
import { startApproval } from '@airlock/approval';
import { startAudit } from '@airlock/audit';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

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

function makeCertificate(dir: string, cn: string, address: string): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=IP:${address},IP:127.0.0.1`,
    '-keyout', join(dir, 'proxy.key'), '-out', join(dir, 'proxy.crt'),
  ], { stdio: 'ignore' });
}

/** GET over HTTPS trusting only `ca`: the status, the body and the common name of the certificate served. */
function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, subject: String(cert.subject?.CN ?? '') }));
    });
    req.on('error', reject);
  });
}

describe('TLS that cannot be skipped, beyond loopback', { skip: outside ? false : 'this machine has no non-loopback IPv4 address to bind the door to' }, () => {
  let t: TestStack;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-tls-'));
    makeCertificate(dir, 'airlock-test', outside!);
    t = await startTestStack({
      env: { AIRLOCK_PGWIRE_HOST: '0.0.0.0', AIRLOCK_HTTP_HOST: '0.0.0.0', AIRLOCK_APPROVAL_HOST: '0.0.0.0', AIRLOCK_AUDIT_HOST: '0.0.0.0' },
      configure: (c) => {
        c['http'] = { allowInsecureNonLoopback: false, tls: { certPath: join(dir, 'proxy.crt'), keyPath: join(dir, 'proxy.key') } };
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

  it('the HTTP doors serve HTTPS, and a renewed certificate is served without a restart', async () => {
    const port = t.ports['http'];
    const first = readFileSync(join(dir, 'proxy.crt'));
    assert.deepEqual(await httpsGet(`https://${outside}:${port}/healthz`, first), { status: 200, body: '{"ok":true}', subject: 'airlock-test' });
    // the approval and audit APIs too, with http.tls
    for (const api of ['approval', 'audit']) {
      assert.deepEqual(await httpsGet(`https://${outside}:${t.ports[api]}/healthz`, first), { status: 200, body: '{"ok":true}', subject: 'airlock-test' });
    }
    // clear HTTP to the same port gets no answer from a door
    await assert.rejects(
      new Promise((resolve, reject) => http.get(`http://${outside}:${port}/healthz`, { agent: false }, (res) => (res.statusCode === 200 ? resolve(res) : reject(new Error(`status ${res.statusCode}`)))).on('error', reject)),
    );
    makeCertificate(dir, 'airlock-renewed', outside!);
    const renewed = readFileSync(join(dir, 'proxy.crt'));
    assert.notDeepEqual(new X509Certificate(renewed).fingerprint256, new X509Certificate(first).fingerprint256);
    const served = await eventually(async () => {
      const r = await httpsGet(`https://${outside}:${port}/healthz`, renewed).catch(() => undefined);
      return r?.subject === 'airlock-renewed' ? r : undefined;
    }, 15_000, 'the renewed certificate');
    assert.deepEqual(served, { status: 200, body: '{"ok":true}', subject: 'airlock-renewed' });
    // the PostgreSQL door takes it too
    const token = await t.token({ subject: 'agent-renewed', groups: ['analysts'] });
    const r = await psql(`host=${outside} port=${t.ports['pgwire']} user=agent dbname=demo sslmode=verify-full sslrootcert=${join(dir, 'proxy.crt')}`, token, 'SELECT id FROM orders WHERE id = 4');
    assert.deepEqual(r, { code: 0, stdout: '4', stderr: '' });
  });
});

describe('the HTTP doors beyond loopback', () => {
  it('the proxy refuses to start on a non-loopback HTTP address without TLS, naming what to set', async () => {
    const config = parseConfig(readFileSync(new URL('../../deploy/config/demo.yaml', import.meta.url), 'utf8'), 'demo.yaml');
    await assert.rejects(
      startProxy({
        bus: undefined as never,
        config,
        logger: createLogger({ service: 'proxy', level: 'silent' }),
        settings: { pgwireHost: '127.0.0.1', pgwirePort: 0, httpHost: '0.0.0.0', httpPort: 0, proxyId: 'p' },
        env: {},
      }),
      {
        message:
          'refusing to serve HTTP on 0.0.0.0 without TLS: bearer tokens and Snowflake logins would cross the network in clear text. Configure proxy.tls (HTTPS), or set proxy.allowInsecureNonLoopback: true',
      },
    );
  });

  it('the approval and audit APIs refuse to start on a non-loopback address without TLS, naming what to set', async () => {
    const config = parseConfig(readFileSync(new URL('../../deploy/config/demo.yaml', import.meta.url), 'utf8'), 'demo.yaml');
    const logger = createLogger({ service: 'test', level: 'silent' });
    const refusal = (door: string) => ({
      message: `refusing to serve the ${door} on 0.0.0.0 without TLS: bearer tokens would cross the network in clear text. Configure http.tls (HTTPS), or set http.allowInsecureNonLoopback: true`,
    });
    await assert.rejects(startApproval({ config, logger, settings: { httpHost: '0.0.0.0', httpPort: 0 } } as never), refusal('approval API'));
    await assert.rejects(startAudit({ logger, http: { host: '0.0.0.0', port: 0 } } as never), refusal('audit API'));
  });
});
