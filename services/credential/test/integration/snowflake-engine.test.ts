import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, decodeJwt } from 'jose';
import { startDemoWarehouse, type DemoWarehouse } from '@airlock/demo';
import type { SnowflakeConnection } from '@airlock/config';
import { freshDatabase, uniqueSuffix } from '@airlock/testkit';
import { SnowflakeEngine, oauthSigner } from '../../src/engines/snowflake.js';

describe('Snowflake credential engine: backstops and revocation', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let warehouse: DemoWarehouse;
  let engine: SnowflakeEngine;
  let conn: SnowflakeConnection;
  const prefix = `AIRLOCK_S${uniqueSuffix().toUpperCase()}_`;

  before(async () => {
    db = await freshDatabase('airlock_sfengine');
    warehouse = await startDemoWarehouse({ databaseUrl: db.url });
    conn = {
      type: 'snowflake',
      account: 'AIRLOCK_DEMO',
      accessUrl: warehouse.url,
      warehouse: 'DEMO_WH',
      database: 'DEMO',
      schema: 'PUBLIC',
      strategy: 'ephemeral-user',
      admin: { user: 'AIRLOCK_ADMIN', privateKey: '${KEY}' },
      roles: { reader: 'ANALYST' },
    };
    engine = new SnowflakeEngine(conn, { KEY: warehouse.adminPrivateKeyPem });
  });
  after(async () => {
    await engine?.close();
    await warehouse?.close();
    await warehouse?.emulator.dropBackingRoles();
    await db?.drop();
  });

  it('creates a TYPE=SERVICE user with DAYS_TO_EXPIRY and the scope role, then disables and drops it, idempotently', async () => {
    const username = `${prefix}ONE`;
    const grant = await engine.mint({ username, role: 'ANALYST', expiresAt: new Date(Date.now() + 3_600_000) });
    assert.equal(grant.type === 'snowflake' && grant.authenticator, 'SNOWFLAKE_JWT');
    // the emulator's user store (the interface shows what Snowflake shows; the expiry is the emulator's own record)
    const store = (warehouse.emulator as unknown as { store: { listUsers(): Promise<Array<{ name: string; daysToExpiry: number | null }>> } }).store;
    const [user] = (await store.listUsers()).filter((u) => u.name === username);
    assert.equal(user?.daysToExpiry, 1);
    assert.deepEqual((await warehouse.emulator.users()).filter((u) => u.name === username), [{ name: username, disabled: false, type: 'SERVICE', defaultRole: 'ANALYST' }]);
    assert.deepEqual(await engine.listWithPrefix(prefix), [username]);
    assert.deepEqual(await engine.revoke(username), { terminatedSessions: 0 });
    assert.deepEqual((await warehouse.emulator.users()).filter((u) => u.name.startsWith(prefix)), []);
    assert.deepEqual(await engine.revoke(username), { terminatedSessions: 0 });
  });

  it('signs External-OAuth tokens whose exp is the lease expiry, capped at one hour', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const signer = oauthSigner({ ...(await exportJWK(privateKey)), kid: 'k1' }, { ...(await exportJWK(publicKey)), kid: 'k1' });
    const oauth = new SnowflakeEngine(
      { ...conn, strategy: 'external-oauth', externalOAuth: { issuer: 'https://airlock.test', audience: 'snowflake', users: { ANALYST: 'AGENT_ANALYST' } } },
      {},
      signer,
    );
    const soon = new Date(Math.floor(Date.now() / 1000) * 1000 + 300_000);
    const grant = await oauth.mint({ username: `${prefix}TOKEN`, role: 'ANALYST', expiresAt: soon });
    assert.ok(grant.type === 'snowflake' && grant.token);
    const claims = decodeJwt(grant.type === 'snowflake' ? grant.token! : '');
    assert.equal(claims.exp, soon.getTime() / 1000);
    assert.deepEqual(claims.scp, ['session:role:ANALYST']);
    const late = await oauth.mint({ username: `${prefix}TOKEN`, role: 'ANALYST', expiresAt: new Date(Date.now() + 8 * 3_600_000) });
    const lateClaims = decodeJwt(late.type === 'snowflake' ? late.token! : '');
    assert.ok(lateClaims.exp! - lateClaims.iat! === 3600);
    await oauth.close();
  });
});
