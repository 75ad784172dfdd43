import { generateKeyPairSync } from 'node:crypto';
import snowflake from 'snowflake-sdk';
import { startEmulator, type Emulator } from '@airlock/snowflake-emulator';
import { seedDemoDatabase } from './seed.js';

snowflake.configure({ logLevel: 'OFF' } as Parameters<typeof snowflake.configure>[0]);

export const demoAccount = 'AIRLOCK_DEMO';
export const demoAdminUser = 'AIRLOCK_ADMIN';

export interface DemoWarehouse {
  emulator: Emulator;
  url: string;
  /** the admin principal's private key: given to the credential service alone (AIRLOCK_WAREHOUSE_ADMIN_KEY) */
  adminPrivateKeyPem: string;
  close(): Promise<void>;
}

/**
 * The demo's Snowflake: the protocol emulator over a PostgreSQL database holding the same tables as `demo`,
 * with roles ANALYST (reads both tables) and WRITER (also changes orders), and an admin that logs in by key pair.
 */
export async function startDemoWarehouse(options: {
  databaseUrl: string;
  host?: string;
  port?: number;
  /** an External-OAuth security integration trusting Airlock's JWKS, with one pre-created user per role */
  externalOAuth?: { jwksUrl: string; issuer: string; audience: string; users: Record<string, string> };
}): Promise<DemoWarehouse> {
  await seedDemoDatabase(options.databaseUrl);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const adminPrivateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const emulator = await startEmulator({
    databaseUrl: options.databaseUrl,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    account: demoAccount,
    database: 'DEMO',
    adminUser: demoAdminUser,
    adminPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ...(options.externalOAuth
      ? { externalOAuth: { jwksUrl: options.externalOAuth.jwksUrl, issuer: options.externalOAuth.issuer, audience: options.externalOAuth.audience, userClaim: 'sub' } }
      : {}),
  });
  const admin = snowflake.createConnection({
    account: demoAccount,
    accessUrl: emulator.url,
    username: demoAdminUser,
    authenticator: 'SNOWFLAKE_JWT',
    privateKey: adminPrivateKeyPem,
  } as snowflake.ConnectionOptions);
  await new Promise<void>((resolve, reject) => admin.connect((err) => (err ? reject(err) : resolve())));
  const run = (sqlText: string) =>
    new Promise<void>((resolve, reject) => admin.execute({ sqlText, complete: (err) => (err ? reject(err) : resolve()) }));
  try {
    for (const sql of [
      'CREATE ROLE IF NOT EXISTS ANALYST',
      'CREATE ROLE IF NOT EXISTS WRITER',
      'GRANT SELECT ON TABLE customers TO ROLE ANALYST',
      'GRANT SELECT ON TABLE orders TO ROLE ANALYST',
      'GRANT SELECT ON TABLE customers TO ROLE WRITER',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE orders TO ROLE WRITER',
    ]) {
      await run(sql);
    }
    for (const [role, user] of Object.entries(options.externalOAuth?.users ?? {})) {
      await run(`CREATE USER IF NOT EXISTS ${user} TYPE = SERVICE DEFAULT_ROLE = ${role} COMMENT = 'External OAuth user for Airlock leases'`);
      await run(`GRANT ROLE ${role} TO USER ${user}`);
    }
  } finally {
    await new Promise<void>((resolve) => admin.destroy(() => resolve()));
  }
  return {
    emulator,
    url: emulator.url,
    adminPrivateKeyPem,
    close: () => emulator.close(),
  };
}
