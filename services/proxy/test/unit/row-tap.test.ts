// The tap between an upstream socket and node-postgres's parser: however the server's bytes are cut into chunks, each
// statement's DataRow messages reach that statement whole and in order, and every other message reaches the driver
// whole and in order, with the statement that a ReadyForQuery starts receiving the rows after it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { RowTap, type RowSink } from '../../src/engines/postgres/row-tap.js';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
const dataRow = (value: string) => {
  const v = Buffer.from(value);
  const body = Buffer.alloc(2 + 4 + v.length);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(v.length, 2);
  v.copy(body, 6);
  return message('D', body);
};
const other = (type: string, text = '') => message(type, Buffer.from(text));

/** A conversation: rows of a first statement, a second one that starts at the first ReadyForQuery, then rows the driver reads itself. */
function conversation(sizes: number[]): { bytes: Buffer; first: Buffer[]; second: Buffer[]; driver: Buffer[] } {
  const first = sizes.map((n, i) => dataRow(`a${i}:${'x'.repeat(n)}`));
  const second = [dataRow('b0'), dataRow('b1:' + 'y'.repeat(70_000)), dataRow('b2')];
  const own = [dataRow('c0'), dataRow('c1')];
  const driver = [
    other('T', 'fields'),
    other('s'),
    other('C', 'SELECT 1\0'),
    other('Z', 'I'),
    other('C', 'SELECT 3\0'),
    other('Z', 'I'),
    ...own,
    other('C', 'SELECT 2\0'),
    other('Z', 'I'),
  ];
  const [t, s, c1, z1, c2, z2, ...rest] = driver;
  const bytes = Buffer.concat([t!, ...first.slice(0, 2), s!, ...first.slice(2), c1!, z1!, ...second, c2!, z2!, ...rest]);
  return { bytes, first, second, driver };
}

/** Feeds `bytes` to a tap in chunks cut at `cuts`, and says where every message went. */
function run(bytes: Buffer, cuts: number[]): { first: Buffer[]; second: Buffer[]; driver: Buffer[] } {
  const socket = new EventEmitter() as EventEmitter & { destroy(err?: Error): void };
  socket.destroy = (err) => assert.fail(`destroyed: ${err?.message}`);
  const driver: Buffer[] = [];
  const seen = { first: [] as Buffer[], second: [] as Buffer[] };
  const sink = (into: Buffer[]): RowSink => ({
    rows: (b, start, end, count) => {
      let o = start;
      for (let k = 0; k < count; k++) {
        const next = o + 1 + b.readUInt32BE(o + 1);
        assert.equal(b[o], 0x44);
        into.push(Buffer.from(b.subarray(o, next)));
        o = next;
      }
      assert.equal(o, end, 'the run holds exactly `count` whole messages');
    },
  });
  const sinks = [sink(seen.first), sink(seen.second)];
  let readyForQuery = 0;
  // the driver's parser: only whole messages reach it; its ReadyForQuery ends one statement and starts the next
  socket.on('data', (chunk: Buffer) => {
    let o = 0;
    while (o < chunk.length) {
      const next = o + 1 + chunk.readUInt32BE(o + 1);
      assert.ok(next <= chunk.length, 'the driver is given whole messages only');
      driver.push(Buffer.from(chunk.subarray(o, next)));
      if (chunk[o] === 0x5a) tap.sink = sinks[++readyForQuery];
      o = next;
    }
  });
  const tap = RowTap.install(socket);
  tap.sink = sinks[0];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) socket.emit('data', bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return { ...seen, driver };
}

describe('the row tap', () => {
  const small = conversation([0, 3, 10, 1]);

  it('routes every message the same way whatever two chunks the bytes arrive in', () => {
    const want = { first: small.first, second: small.second, driver: small.driver };
    for (let cut = 0; cut <= small.bytes.length; cut += cut < 200 ? 1 : 997) {
      assert.deepEqual(run(small.bytes, [cut]), want, `cut at ${cut}`);
    }
  });

  it('routes every message the same way in chunks of one byte, and in random chunks', () => {
    const big = conversation([5, 100_000, 0, 200, 3]);
    const want = { first: big.first, second: big.second, driver: big.driver };
    assert.deepEqual(run(small.bytes, Array.from({ length: small.bytes.length }, (_, i) => i)), { first: small.first, second: small.second, driver: small.driver });
    let seed = 3;
    for (let k = 0; k < 30; k++) {
      const cuts: number[] = [];
      for (let at = 0; at < big.bytes.length; ) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        at += 1 + (seed % 70_000);
        cuts.push(at);
      }
      assert.deepEqual(run(big.bytes, cuts), want);
    }
  });

  it('refuses a socket whose parser it cannot find', () => {
    const socket = new EventEmitter() as EventEmitter & { destroy(err?: Error): void };
    socket.destroy = () => undefined;
    assert.throws(() => RowTap.install(socket), /0 data listeners where one was expected/);
  });
});
