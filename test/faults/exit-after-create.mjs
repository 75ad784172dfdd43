// Fault injection for test/faults/credential-kill.test.ts, loaded into a credential service process with
// `node --import`: the process dies as `kill -9` would at the moment it marks a freshly created lease active, so the
// role exists upstream while its lease row is still pending. It lives in the test harness, never in the service.
import pg from 'pg';

const query = pg.Client.prototype.query;
pg.Client.prototype.query = function patchedQuery(config, ...rest) {
  const text = typeof config === 'string' ? config : config?.text;
  if (typeof text === 'string' && text.includes("UPDATE leases SET state = 'active'")) {
    process.stderr.write('fault injection: exiting between creating a credential and activating its lease\n');
    process.kill(process.pid, 'SIGKILL');
  }
  return query.call(this, config, ...rest);
};
