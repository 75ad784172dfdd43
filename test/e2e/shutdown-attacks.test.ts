import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { rolesWithPrefix, startTestStack, type TestStack } from '@airlock/testkit';

/**
 * A stack closed (the proxy on its own thread, as `airlock up` runs it) while one client is connected and another has
 * sent its start-up message and then neither answers, reads nor closes. Before, the listener's close
 * waited for that peer's socket forever (terminating the connection cleared its login deadline), so the stack's close
 * never ended: anyone who could reach the port could keep the proxy, and every service after it, from stopping.
 */
describe('closing the stack with a client stopped mid-login', () => {
  let t: TestStack;

  before(async () => {
    t = await startTestStack({ apart: ['proxy'] });
  });
  after(async () => {
    await t?.close();
  });

  it('ends, tells the logged-in client and leaves no lease role', { timeout: 120_000 }, async () => {
    const analyst = await t.token({ subject: 'agent-shutdown', groups: ['analysts'] });
    const c = new pg.Client({ connectionString: t.pgUrl(analyst) });
    const errors: Array<string | undefined> = [];
    c.on('error', (e: Error & { code?: string }) => errors.push(e.code));
    await c.connect();
    await c.query('SELECT id FROM orders WHERE id = 1');
    // a peer that sends its start-up message, and then neither answers, reads nor closes
    const half = net.connect(t.ports['pgwire']!, '127.0.0.1');
    half.on('error', () => undefined);
    await new Promise<void>((resolve) => half.once('connect', () => resolve()));
    const params = Buffer.from('user\0agent\0database\0demo\0\0');
    const startup = Buffer.alloc(8 + params.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    params.copy(startup, 8);
    // it is asked for its password (the reply waits in its buffer, never read: it never learns the proxy closed its side)
    const asked = new Promise<void>((resolve) => half.once('readable', () => resolve()));
    half.write(startup);
    await asked;
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    await t.stack.close();
    await ended;
    half.destroy();
    assert.equal(errors[0], '57P01');
    assert.deepEqual(await rolesWithPrefix(t.rolePrefix), []);
  });
});
