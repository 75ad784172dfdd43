// The contracts guard themselves: every subject is well formed and unique, and every request, response and event
// schema matches the committed snapshot, so a change to what crosses the bus is always deliberate. After a deliberate
// change, write the new snapshot with:
//   AIRLOCK_UPDATE_SNAPSHOTS=1 node --import tsx --test contracts/test/contracts.test.ts
// and commit contracts/test/schemas.snapshot.json with the change (say in the commit what changed for consumers).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allEvents, allRequests, defaultRoot, eventSubject, isValidToken, requestSubject } from '../src/index.js';

const snapshotPath = fileURLToPath(new URL('./schemas.snapshot.json', import.meta.url));

/** Every subject under the default root with the schemas that travel on it (symbol keys of TypeBox drop out). */
function current(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const d of allRequests) out[requestSubject(defaultRoot, d)] = JSON.parse(JSON.stringify({ request: d.request, response: d.response }));
  for (const d of allEvents) out[eventSubject(defaultRoot, d)] = JSON.parse(JSON.stringify({ payload: d.payload }));
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

describe('the bus contracts', () => {
  it('name every subject with lower-case kebab tokens and a major version', () => {
    assert.ok(allRequests.length > 0 && allEvents.length > 0);
    for (const d of allRequests) {
      const subject = requestSubject(defaultRoot, d);
      assert.ok(isValidToken(d.family) && isValidToken(d.operation), `${subject}: tokens must be lower-case kebab`);
      assert.match(d.version, /^v[1-9][0-9]*$/, `${subject}: the version is v<major>`);
      assert.notEqual(d.family, 'evt', `${subject}: "evt" is the event name space`);
      assert.ok(d.description.trim().length > 0, `${subject}: describe the request`);
    }
    for (const d of allEvents) {
      const subject = eventSubject(defaultRoot, d);
      assert.ok(isValidToken(d.family) && isValidToken(d.event), `${subject}: tokens must be lower-case kebab`);
      assert.match(d.version, /^v[1-9][0-9]*$/, `${subject}: the version is v<major>`);
      assert.ok(d.description.trim().length > 0, `${subject}: describe the event`);
    }
  });

  it('never use one subject twice', () => {
    const subjects = [...allRequests.map((d) => requestSubject(defaultRoot, d)), ...allEvents.map((d) => eventSubject(defaultRoot, d))];
    const twice = subjects.filter((s, i) => subjects.indexOf(s) !== i);
    assert.deepEqual(twice, [], `subjects defined more than once: ${twice.join(', ')}`);
  });

  it('match the committed schema snapshot', () => {
    const now = current();
    if (process.env['AIRLOCK_UPDATE_SNAPSHOTS'] === '1') {
      writeFileSync(snapshotPath, `${JSON.stringify(now, null, 2)}\n`);
    }
    assert.ok(existsSync(snapshotPath), 'contracts/test/schemas.snapshot.json is missing: write it with AIRLOCK_UPDATE_SNAPSHOTS=1');
    const committed = JSON.parse(readFileSync(snapshotPath, 'utf8')) as Record<string, unknown>;
    const added = Object.keys(now).filter((s) => !(s in committed));
    const removed = Object.keys(committed).filter((s) => !(s in now));
    const changed = Object.keys(now).filter((s) => s in committed && JSON.stringify(now[s]) !== JSON.stringify(committed[s]));
    assert.deepEqual(
      { added, removed, changed },
      { added: [], removed: [], changed: [] },
      'the bus contracts differ from contracts/test/schemas.snapshot.json; if the change is deliberate, run ' +
        'AIRLOCK_UPDATE_SNAPSHOTS=1 node --import tsx --test contracts/test/contracts.test.ts and commit the snapshot',
    );
  });
});
