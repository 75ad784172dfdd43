// Nothing a stranger does before logging in costs the proxy more than the limits allow (proxy.limits): 500
// unauthenticated sockets keep 100 per source address and 150 in all, the rest are refused at once with 53300; the
// held ones are closed at the authentication deadline with a FATAL naming it; a 64 MiB password message and an
// oversized startup packet are refused before they are read; a 64 KB gzip bomb at the Snowflake login endpoint is
// refused with a Snowflake-style JSON answer (HTTP 200). Meanwhile a real `pg` client keeps querying without an error,
// and another connects from an address the flood does not use. The SQL API reads a large body only behind a valid token.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { eventually, startTestStack, type TestStack } from '@airlock/testkit';

interface Probe {
  socket: net.Socket;
  received: Buffer[];
  closed: boolean;
}

/** A raw TCP client of the PostgreSQL door, from a given loopback source address. */
function probe(port: number, localAddress: string, send?: Buffer): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const p: Probe = { socket: net.connect({ port, host: '127.0.0.1', localAddress }), received: [], closed: false };
    p.socket.on('data', (d) => p.received.push(d));
    p.socket.on('close', () => (p.closed = true));
    p.socket.once('error', () => undefined);
    p.socket.once('connect', () => {
      if (send) p.socket.write(send);
      resolve(p);
    });
    p.socket.once('error', reject);
  });
}

/** The fields of the first ErrorResponse a probe received: severity, code, message. */
function errorOf(p: Probe): { severity: string; code: string; message: string } | undefined {
  const b = Buffer.concat(p.received);
  const at = b.indexOf(0x45); // 'E'
  if (at < 0) return undefined;
  const fields: Record<string, string> = {};
  let o = at + 5;
  while (o < b.length && b[o] !== 0) {
    const key = String.fromCharCode(b[o]!);
    const end = b.indexOf(0, o + 1);
    fields[key] = b.toString('utf8', o + 1, end);
    o = end + 1;
  }
  return { severity: fields['S']!, code: fields['C']!, message: fields['M']! };
}

function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(params).flatMap(([k, v]) => [Buffer.from(`${k}\0${v}\0`)]), Buffer.from([0])]);
  const b = Buffer.alloc(8);
  b.writeInt32BE(8 + body.length, 0);
  b.writeInt32BE(196608, 4);
  return Buffer.concat([b, body]);
}

const authTimeoutSeconds = 5;
const perAddress = 100;
const total = 150;

describe('limits before login', () => {
  let t: TestStack;
  before(async () => {
    t = await startTestStack({
      configure: (c) => {
        c['proxy'] = { ...c['proxy'], limits: { authTimeoutSeconds, maxUnauthenticated: total, maxUnauthenticatedPerAddress: perAddress } };
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  it('500 idle sockets, oversized messages and gzip bombs are refused or timed out while a real client keeps querying', async () => {
    const port = t.ports['pgwire']!;
    const token = await t.token({ subject: 'steady', groups: ['analysts'] });
    const steady = new pg.Client({ connectionString: t.pgUrl(token) });
    await steady.connect();
    const answers: unknown[] = [];
    const failures: unknown[] = [];
    let querying = true;
    const loop = (async () => {
      while (querying) {
        try {
          answers.push((await steady.query('SELECT id FROM orders WHERE id = 1')).rows);
        } catch (err) {
          failures.push(err);
        }
      }
    })();

    // the flood: 500 sockets from one address that never say a word
    const flood = await Promise.all(Array.from({ length: 500 }, () => probe(port, '127.0.0.2')));
    const refused = await eventually(async () => {
      const done = flood.filter((p) => p.closed);
      return done.length >= 500 - perAddress ? done : undefined;
    }, 20_000, 'the sockets over the per-address limit closed');
    assert.equal(refused.length, 500 - perAddress);
    for (const p of refused) {
      assert.deepEqual(errorOf(p), {
        severity: 'FATAL',
        code: '53300',
        message: `too many connections from 127.0.0.2 are waiting to authenticate: the limit is ${perAddress} per address (proxy.limits.maxUnauthenticatedPerAddress); authenticate the open ones or try again later`,
      });
    }
    const held = flood.filter((p) => !p.closed);
    assert.equal(held.length, perAddress);
    for (const p of held) assert.equal(p.received.length, 0);

    // another address is not shut out by the flood: a second real client connects and queries
    const other = new pg.Client({ connectionString: t.pgUrl(await t.token({ subject: 'newcomer', groups: ['analysts'] })) });
    await other.connect();
    assert.deepEqual((await other.query('SELECT id FROM orders WHERE id = 2')).rows, [{ id: 2 }]);
    await other.end();

    // a 64 MiB password message is refused from its header, before its bytes are read
    const bigPassword = await probe(port, '127.0.0.4', startupPacket({ user: 'agent', database: 'demo' }));
    await eventually(async () => (Buffer.concat(bigPassword.received).includes(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])) ? true : undefined), 10_000, 'the password request');
    const header = Buffer.alloc(5);
    header[0] = 0x70; // 'p'
    header.writeInt32BE(64 * 1024 * 1024, 1);
    bigPassword.socket.write(Buffer.concat([header, Buffer.alloc(64 * 1024, 0x41)]));
    await eventually(async () => (bigPassword.closed ? true : undefined), 10_000, 'the oversized password refused');
    assert.deepEqual(errorOf(bigPassword), {
      severity: 'FATAL',
      code: '08P01',
      message: 'Airlock accepts at most 16384 bytes before authentication (proxy.limits.maxStartupBytes); this connection sent a message of 67108865 bytes',
    });

    // so is a startup packet that says it is 1 MiB long
    const bigStartup = Buffer.alloc(8);
    bigStartup.writeInt32BE(1024 * 1024, 0);
    bigStartup.writeInt32BE(196608, 4);
    const startupProbe = await probe(port, '127.0.0.4', bigStartup);
    await eventually(async () => (startupProbe.closed ? true : undefined), 10_000, 'the oversized startup refused');
    assert.deepEqual(errorOf(startupProbe), {
      severity: 'FATAL',
      code: '08P01',
      message: 'Airlock accepts at most 16384 bytes before authentication (proxy.limits.maxStartupBytes); this connection sent a message of 1048576 bytes',
    });

    // four 64 KB gzip bombs (64 MB of JSON each) at the Snowflake login endpoint: refused in Snowflake's terms
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"data":{"TOKEN":"'), Buffer.alloc(64 * 1024 * 1024, 0x41), Buffer.from('"}}')]), { level: 9 });
    assert.ok(bomb.length < 70 * 1024, `the bomb is ${bomb.length} bytes`);
    const login = async (body: Buffer) => {
      const res = await fetch(`http://127.0.0.1:${t.ports['http']}/session/v1/login-request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/snowflake' },
        body,
      });
      return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
    };
    const bombed = await Promise.all([bomb, bomb, bomb, bomb].map(login));
    for (const r of bombed) {
      assert.deepEqual(r, {
        status: 200,
        type: 'application/json; charset=utf-8',
        body: {
          success: false,
          code: '000603',
          message:
            'Airlock could not read this request: the request body is larger than the 65536 bytes Airlock reads before authentication (proxy.limits.maxLoginBodyBytes, counted after decompression)',
          data: { airlockCode: 'runtime.invalid_request' },
          headers: null,
        },
      });
    }
    // a gzipped login of ordinary size is still read (and answered: there is no Snowflake connection in this stack)
    const ordinary = await login(gzipSync(JSON.stringify({ data: { AUTHENTICATOR: 'OAUTH', TOKEN: token, ACCOUNT_NAME: 'nowhere' } })));
    assert.equal(ordinary.body['code'], '002003');

    // the SQL API reads a large body only from a caller whose bearer token holds
    const bigStatement = JSON.stringify({ statement: `SELECT id FROM orders WHERE id = 1${' '.repeat(100_000)}` });
    const sqlApi = async (authorization?: string) => {
      const res = await fetch(`http://127.0.0.1:${t.ports['http']}/api/v2/statements`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: bigStatement,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const stranger = await sqlApi('Bearer not-a-token');
    assert.equal(stranger.status, 400);
    assert.equal(
      stranger.body['message'],
      'Airlock could not read this request: the request body is larger than the 65536 bytes Airlock reads before authentication (proxy.limits.maxLoginBodyBytes, counted after decompression)',
    );
    // read in full, then answered for what it says (this stack has no Snowflake connection to name)
    assert.deepEqual(await sqlApi(`Bearer ${token}`), {
      status: 400,
      body: { code: '000603', message: 'name a configured Snowflake connection in the x-airlock-connection header', airlockCode: 'runtime.invalid_request' },
    });

    // the global limit: from a third address, 50 more are held and 10 refused naming maxUnauthenticated
    const third = await Promise.all(Array.from({ length: 60 }, () => probe(port, '127.0.0.3')));
    const refusedThird = await eventually(async () => {
      const done = third.filter((p) => p.closed);
      return done.length >= 10 ? done : undefined;
    }, 10_000, 'the sockets over the global limit closed');
    assert.equal(refusedThird.length, 10);
    for (const p of refusedThird) {
      assert.deepEqual(errorOf(p), {
        severity: 'FATAL',
        code: '53300',
        message: `too many connections are waiting to authenticate: the limit is ${total} (proxy.limits.maxUnauthenticated); try again later`,
      });
    }

    // at the deadline every held socket is told why and closed
    const heldAll = [...held, ...third.filter((p) => !refusedThird.includes(p))];
    assert.equal(heldAll.length, total);
    await eventually(async () => (heldAll.every((p) => p.closed) ? true : undefined), (authTimeoutSeconds + 10) * 1000, 'the held sockets closed');
    for (const p of heldAll) {
      assert.deepEqual(errorOf(p), {
        severity: 'FATAL',
        code: '08P01',
        message: `Airlock closed this connection: it did not authenticate within ${authTimeoutSeconds} s (proxy.limits.authTimeoutSeconds)`,
      });
    }

    // the slots are free again: 100 more from the flooded address are held, none refused
    const again = await Promise.all(Array.from({ length: perAddress }, () => probe(port, '127.0.0.2')));
    const newcomer = new pg.Client({ connectionString: t.pgUrl(token) });
    await newcomer.connect();
    assert.deepEqual((await newcomer.query('SELECT id FROM orders WHERE id = 3')).rows, [{ id: 3 }]);
    await newcomer.end();
    assert.equal(again.filter((p) => p.closed).length, 0);
    for (const p of again) p.socket.destroy();

    querying = false;
    await loop;
    await steady.end();
    assert.deepEqual(failures, []);
    assert.ok(answers.length > 0);
    for (const rows of answers) assert.deepEqual(rows, [{ id: 1 }]);
  });
});
