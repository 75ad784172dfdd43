import pg from 'pg';
import { credentialV1, policyV1 } from '@airlock/contracts';
import { newContext, startService } from '@airlock/runtime';
import { service as credential } from './src/definition.js';
import { startTestStack } from '@airlock/testkit';
const t = await startTestStack({ names: ['policy'], env: { AIRLOCK_HEARTBEAT_GRACE_SECONDS: '3600', AIRLOCK_LOG_LEVEL: 'warn' }, configure: (c) => {
  const demo = c['connections']['demo'];
  demo['leases'] = { ...demo['leases'], mode: 'statement' };
  c['connections']['demo_pool'] = { ...demo, leases: { ...demo['leases'], mode: 'statement', pool: { size: 8 } } };
} });
const svc = await startService(credential, t.env, { config: t.stack.config, logger: t.logger });
const bus = svc.host.bus;
const principal = { subject: 'm', issuer: 'http://127.0.0.1:8083/dev', groups: ['analysts'] };
await new Promise((r) => setTimeout(r, 2000));
let n = 0;
const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2);
for (const conn of ['demo', 'demo_pool', 'demo', 'demo_pool']) {
  const dec: number[] = [], iss: number[] = [], con: number[] = [], q: number[] = [], rev: number[] = [];
  for (let i = 0; i < 40; i++) {
    const id = `r${++n}`;
    let t0 = performance.now();
    const d = await bus.call(policyV1.decide, { requestId: id, sessionId: id, principal, connection: conn, sql: 'SELECT id FROM orders WHERE id = 1', frontend: 'pgwire' }, newContext());
    let t1 = performance.now(); dec.push(t1 - t0);
    const lease = await bus.call(credentialV1.issueLease, { requestId: id, sessionId: id, connection: conn, principal, scope: d.scope!, holder: 'm', decision: d.token! }, newContext(), { timeoutMs: 20000 });
    let t2 = performance.now(); iss.push(t2 - t1);
    const u = lease.upstream as any;
    const c = new pg.Client({ host: u.host, port: u.port, database: u.database, user: lease.username, password: u.password });
    await c.connect();
    let t3 = performance.now(); con.push(t3 - t2);
    await c.query('SELECT id FROM orders WHERE id = 1');
    await c.end();
    let t4 = performance.now(); q.push(t4 - t3);
    await bus.call(credentialV1.revokeLease, { leaseId: lease.leaseId, reason: 'statement-complete' }, newContext(), { timeoutMs: 20000 });
    rev.push(performance.now() - t4);
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(conn, 'decide', med(dec), 'issue', med(iss), 'connect', med(con), 'query+end', med(q), 'revoke', med(rev));
}
await svc.close();
await t.close();
const M = (globalThis as any).__marks as any[];
for (const c of ['demo', 'demo_pool']) {
  const rows = M.filter((m) => m.c === c);
  const keys = ['authorize', 'record', 'mint', 'activate', 'publish'];
  console.log(c, keys.map((k) => `${k} ${med(rows.map((r) => r[k]))}`).join(' '));
}
