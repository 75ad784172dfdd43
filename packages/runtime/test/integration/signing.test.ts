import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyV1 } from '@airlock/contracts';
import { Bus, Signer, TrustedKeys, createLogger, tokenKinds } from '@airlock/runtime';
import { deleteStream, natsUrl, uniqueSuffix } from '@airlock/testkit';

/**
 * Key rotation without downtime, over the real NATS: the signer puts a new key first and keeps the old one after it;
 * a verifier that knew only the old key learns the new one on first sight and still accepts the old key's tokens;
 * once the old key is removed, it no longer verifies.
 */
describe('signing keys rotate without downtime', () => {
  const logger = createLogger({ service: 'signing-test', level: 'error' });
  const root = `t${uniqueSuffix()}`;
  let server: Bus;
  let client: Bus;
  let current: Signer;

  /** a fresh key set, as the service would generate it */
  const generated = async (): Promise<{ keys: Array<Record<string, unknown>> }> => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-keys-'));
    await Signer.load({ service: 'policy', env: { AIRLOCK_STATE_DIR: dir }, logger }, tokenKinds.decision);
    return JSON.parse(readFileSync(join(dir, 'keys', 'policy.jwks.json'), 'utf8'));
  };
  const signer = (keys: Array<Record<string, unknown>>) =>
    Signer.load({ service: 'policy', env: { AIRLOCK_POLICY_SIGNING_KEYS: JSON.stringify({ keys }) }, logger }, tokenKinds.decision);

  before(async () => {
    server = await Bus.connect({ url: natsUrl, root, service: 'policy', logger });
    client = await Bus.connect({ url: natsUrl, root, service: 'credential', logger });
    // whichever signer is current answers the keys subject, as a rolled copy would
    server.serve(policyV1.keys, async () => current.jwks());
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await deleteStream(root);
  });

  it('accepts the old and the new key during the rotation, and only the new one after', async () => {
    const [a, b] = [(await generated()).keys[0]!, (await generated()).keys[0]!];
    current = await signer([a]);
    const verifier = new TrustedKeys(client, policyV1.keys, tokenKinds.decision);
    const oldToken = (await current.sign({ sub: 'old' }, 60)).token;
    assert.equal((await verifier.verify(oldToken))['sub'], 'old');
    // no private part is ever published
    assert.deepEqual(current.jwks().keys.map((k) => k['d']), [undefined]);

    // rotation: the new key first, the old one kept
    current = await signer([b, a]);
    const newToken = (await current.sign({ sub: 'new' }, 60)).token;
    assert.equal((await verifier.verify(newToken))['sub'], 'new');
    assert.equal((await verifier.verify(oldToken))['sub'], 'old');

    // the old key removed: a verifier that fetches the set now refuses what it signed
    current = await signer([b]);
    const restarted = new TrustedKeys(client, policyV1.keys, tokenKinds.decision);
    assert.equal((await restarted.verify(newToken))['sub'], 'new');
    await assert.rejects(restarted.verify(oldToken), { message: 'the token is signed by an unknown key' });
  });

  it('refuses an empty key set at start, an expired token, and an altered payload', async () => {
    current = await signer((await generated()).keys);
    const verifier = new TrustedKeys(client, policyV1.keys, tokenKinds.decision);
    const empty = await Signer.load({ service: 'policy', env: { AIRLOCK_POLICY_SIGNING_KEYS: JSON.stringify({ keys: [] }) }, logger }, tokenKinds.grant).catch((e: Error) => e);
    assert.ok(empty instanceof Error, 'an empty key set is refused at start');
    const expired = (await current.sign({ sub: 'x' }, -60)).token;
    await assert.rejects(verifier.verify(expired), { message: 'the token has expired' });
    const token = (await current.sign({ sub: 'x', role: 'demo_reader' }, 60)).token;
    const [h, p, sig] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, role: 'postgres' })).toString('base64url')}.${sig}`;
    await assert.rejects(verifier.verify(forged), { message: 'the signature or claims do not verify' });
  });
});
