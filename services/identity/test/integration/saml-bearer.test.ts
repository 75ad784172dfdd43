import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { AirlockConfig, SamlIdp } from '@airlock/config';
import { identityV1 } from '@airlock/contracts';
import { AirlockError, newContext } from '@airlock/runtime';
import { SamlVerifier, TokenVerifier, certificatesFromMetadata, looksLikeSaml, service as identity } from '@airlock/identity';
import { freshDatabase, startTestStack, type TestStack } from '@airlock/testkit';
import { base64, makeIdpKey, signedAssertion, signedResponse, type AssertionOptions, type IdpKey } from '../saml-fixtures.js';

const idpIssuer = 'https://idp.example.test/saml';
const audience = 'urn:airlock:gateway';
const recipient = 'https://airlock.example.test/saml/bearer';

function refusedWith(code: string, message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof AirlockError, `expected an AirlockError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  };
}

describe('SAML assertions as bearer credentials', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let pool: pg.Pool;
  let key: IdpKey;
  let otherKey: IdpKey;
  let verifier: SamlVerifier;
  const idp = (): SamlIdp => ({ issuer: idpIssuer, idpCert: key.cert, audience, recipient, groupsAttribute: 'memberOf' });
  const assertion = (o: Partial<AssertionOptions> = {}) =>
    base64(signedAssertion({ key, issuer: idpIssuer, subject: 'alice@example.test', audience, recipient, groups: ['dba', 'auditors'], email: 'alice@example.test', groupsAttribute: 'memberOf', ...o }));

  before(async () => {
    db = await freshDatabase('airlock_saml');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    key = await makeIdpKey('test-idp');
    otherKey = await makeIdpKey('forger');
    verifier = new SamlVerifier({ idps: [idp()], pool, clockSkewSeconds: 30 });
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('tells a SAML assertion from a JWT', () => {
    assert.equal(looksLikeSaml(assertion()), true);
    assert.equal(looksLikeSaml('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'), false);
    assert.equal(looksLikeSaml(base64('not xml at all')), false);
  });

  it('accepts a signed assertion and maps it to the principal shape', async () => {
    const { principal, expiresAt } = await verifier.verify(assertion());
    assert.deepEqual(principal, { subject: 'alice@example.test', issuer: idpIssuer, groups: ['dba', 'auditors'], email: 'alice@example.test' });
    assert.ok(expiresAt.getTime() > Date.now() + 200_000 && expiresAt.getTime() <= Date.now() + 300_000);
  });

  it('accepts the assertion a console relays for its own SP again until it expires, and only for that SP', async () => {
    const consoleSp = { audience: 'https://console.example.test/saml', recipient: 'https://console.example.test/auth/saml/callback' };
    const relayed = assertion({ subject: 'erin', ...consoleSp });
    const first = await verifier.verify(relayed, undefined, false, consoleSp);
    const again = await verifier.verify(relayed, undefined, false, consoleSp);
    // the same person as at the database door: the IdP's subject and issuer
    assert.deepEqual(again.principal, first.principal);
    assert.deepEqual({ subject: first.principal.subject, issuer: first.principal.issuer }, { subject: 'erin', issuer: idpIssuer });
    // the console's assertion opens no database door, and a database door's assertion is no console credential
    await assert.rejects(verifier.verify(relayed), refusedWith('identity.audience_mismatch', `the SAML assertion was not issued for this audience (${audience}); ask the IdP for one that names it`));
    await assert.rejects(
      verifier.verify(assertion({ subject: 'erin' }), undefined, false, consoleSp),
      refusedWith('identity.audience_mismatch', `the SAML assertion was not issued for this audience (${consoleSp.audience}); ask the IdP for one that names it`),
    );
    // a database door's assertion stays single-use
    const once = assertion({ subject: 'erin' });
    await verifier.verify(once);
    await assert.rejects(verifier.verify(once), (e: unknown) => e instanceof AirlockError && e.code === 'identity.replayed_token');
  });

  it('accepts a signed assertion inside a SAML response', async () => {
    const xml = signedResponse({ key, issuer: idpIssuer, subject: 'bob', audience, recipient, groups: ['dba'], groupsAttribute: 'memberOf', destination: recipient });
    const { principal } = await verifier.verify(base64(xml));
    assert.deepEqual(principal, { subject: 'bob', issuer: idpIssuer, groups: ['dba'] });
  });

  it('refuses an assertion signed with another key (forged)', async () => {
    await assert.rejects(
      verifier.verify(assertion({ key: otherKey })),
      refusedWith('identity.invalid_token', `the SAML assertion's signature does not verify against the certificate of ${idpIssuer}`),
    );
  });

  it('refuses an assertion altered after signing', async () => {
    const signed = signedAssertion({ key, issuer: idpIssuer, subject: 'mallory', audience, recipient, groups: ['analysts'], groupsAttribute: 'memberOf' });
    const altered = signed.replace('<saml:AttributeValue>analysts</saml:AttributeValue>', '<saml:AttributeValue>dba</saml:AttributeValue>');
    assert.notEqual(altered, signed);
    await assert.rejects(
      verifier.verify(base64(altered)),
      refusedWith('identity.invalid_token', `the SAML assertion's signature does not verify against the certificate of ${idpIssuer}`),
    );
  });

  it('refuses an assertion for another audience', async () => {
    await assert.rejects(
      verifier.verify(assertion({ audience: 'urn:someone:else' })),
      refusedWith('identity.audience_mismatch', `the SAML assertion was not issued for this audience (${audience}); ask the IdP for one that names it`),
    );
  });

  it('refuses an assertion for another recipient', async () => {
    await assert.rejects(
      verifier.verify(assertion({ recipient: 'https://elsewhere.example.test/acs' })),
      refusedWith('identity.audience_mismatch', `the SAML assertion was not issued for this recipient (${recipient}); ask the IdP for one whose bearer confirmation names it`),
    );
  });

  it('refuses an expired assertion, beyond the clock skew', async () => {
    const past = Date.now() - 10 * 60_000;
    await assert.rejects(
      verifier.verify(assertion({ notBefore: new Date(past - 60_000), notOnOrAfter: new Date(past) })),
      refusedWith('identity.expired_token', 'the SAML assertion has expired; sign in at the IdP again for a fresh one'),
    );
  });

  it('accepts an assertion that expired within the clock skew', async () => {
    const { principal } = await verifier.verify(assertion({ notBefore: new Date(Date.now() - 120_000), notOnOrAfter: new Date(Date.now() - 5_000) }));
    assert.equal(principal.subject, 'alice@example.test');
  });

  it('refuses an assertion that is used a second time (replay), remembered in PostgreSQL', async () => {
    const once = assertion({ id: '_replay-check-1' });
    await verifier.verify(once);
    await assert.rejects(
      verifier.verify(once),
      refusedWith('identity.replayed_token', 'this SAML assertion was already used; a bearer assertion is accepted once, so get a fresh one from the IdP'),
    );
    // another verifier (another copy of the service) shares the memory
    const copy = new SamlVerifier({ idps: [idp()], pool, clockSkewSeconds: 30 });
    await assert.rejects(copy.verify(once), refusedWith('identity.replayed_token', 'this SAML assertion was already used; a bearer assertion is accepted once, so get a fresh one from the IdP'));
    const { rows } = await pool.query('SELECT issuer, assertion_id FROM identity_saml_assertions WHERE assertion_id = $1', ['_replay-check-1']);
    assert.deepEqual(rows, [{ issuer: idpIssuer, assertion_id: '_replay-check-1' }]);
  });

  it('verifies again, for a renewal, only an assertion that was accepted before (and still checks it in full)', async () => {
    const accepted = assertion({ id: '_recheck-1' });
    const first = await verifier.verify(accepted);
    const again = await verifier.verify(accepted, undefined, true);
    assert.deepEqual(again.principal, first.principal);
    // a recheck neither records nor opens anything new: an assertion never presented is refused, and stays new
    const fresh = assertion({ id: '_recheck-never-seen' });
    await assert.rejects(verifier.verify(fresh, undefined, true), refusedWith('identity.invalid_token', 'this SAML assertion never opened a session here; sign in at the IdP again'));
    await verifier.verify(fresh);
    await assert.rejects(
      verifier.verify(assertion({ id: '_recheck-1', key: otherKey }), undefined, true),
      refusedWith('identity.invalid_token', `the SAML assertion's signature does not verify against the certificate of ${idpIssuer}`),
    );
  });

  it('refuses an assertion of an IdP that is not configured', async () => {
    await assert.rejects(
      verifier.verify(assertion({ issuer: 'https://rogue.example.test' })),
      refusedWith('identity.unknown_issuer', 'the SAML assertion was issued by an IdP this Airlock does not trust; use an assertion from a configured IdP'),
    );
  });

  it('reads the signing certificate from IdP metadata', async () => {
    const body = key.cert.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const metadata =
      `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${idpIssuer}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
      `<md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>\n${body}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
      `</md:IDPSSODescriptor></md:EntityDescriptor>`;
    assert.deepEqual(certificatesFromMetadata(metadata), [body]);
    const fromMetadata = new SamlVerifier({ idps: [{ issuer: idpIssuer, idpMetadata: metadata, audience, recipient, groupsAttribute: 'memberOf' }], pool, clockSkewSeconds: 30 });
    const { principal } = await fromMetadata.verify(assertion());
    assert.deepEqual(principal.groups, ['dba', 'auditors']);
    await assert.rejects(fromMetadata.verify(assertion({ key: otherKey })), refusedWith('identity.invalid_token', `the SAML assertion's signature does not verify against the certificate of ${idpIssuer}`));
  });

  it('leaves JWTs to the OIDC path when SAML is configured', async () => {
    const tokens = new TokenVerifier({ config: { identity: { issuers: [] } } as unknown as AirlockConfig, saml: verifier });
    const { principal } = await tokens.verify(assertion());
    assert.equal(principal.issuer, idpIssuer);
    await assert.rejects(
      tokens.verify('eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL25vYm9keSIsInN1YiI6IngifQ.c2ln'),
      (e: unknown) => e instanceof AirlockError && e.code === 'identity.unknown_issuer',
    );
  });
});

describe('the identity service verifies SAML bearer assertions over the bus', () => {
  let t: TestStack;
  let key: IdpKey;

  before(async () => {
    key = await makeIdpKey('bus-idp');
    t = await startTestStack({
      services: [identity],
      configure: (c) => {
        c['identity']['saml'] = [{ issuer: idpIssuer, idpCert: key.cert, audience, recipient, groupsAttribute: 'groups' }];
      },
    });
  });
  after(async () => {
    await t?.close();
  });

  it('answers the principal for a SAML assertion and for a JWT alike, and refuses a replay with its code', async () => {
    const bus = t.stack.services[0]!.host.bus;
    const token = base64(signedAssertion({ key, issuer: idpIssuer, subject: 'carol', audience, recipient, groups: ['auditors'] }));
    const saml = await bus.call(identityV1.verifyToken, { token, frontend: 'http' }, newContext());
    assert.deepEqual(saml.principal, { subject: 'carol', issuer: idpIssuer, groups: ['auditors'] });
    const jwt = await bus.call(identityV1.verifyToken, { token: await t.token({ subject: 'dave', groups: ['dba'] }) }, newContext());
    assert.equal(jwt.principal.subject, 'dave');
    await assert.rejects(bus.call(identityV1.verifyToken, { token, frontend: 'http' }, newContext()), (e: unknown) => {
      assert.ok(e instanceof AirlockError);
      assert.equal(e.code, 'identity.replayed_token');
      return true;
    });
  });
});
