import { randomUUID } from 'node:crypto';
import { generate } from 'selfsigned';
import { SignedXml } from 'xml-crypto';

/** An IdP signing key and its self-signed certificate, made for one test run. */
export interface IdpKey {
  privateKey: string;
  cert: string;
}

export async function makeIdpKey(commonName = 'test-idp'): Promise<IdpKey> {
  const pems = await generate([{ name: 'commonName', value: commonName }], { keySize: 2048, algorithm: 'sha256' });
  return { privateKey: pems.private, cert: pems.cert };
}

export interface AssertionOptions {
  key: IdpKey;
  issuer: string;
  subject: string;
  audience: string;
  recipient: string;
  groups?: string[];
  email?: string;
  id?: string;
  notBefore?: Date;
  notOnOrAfter?: Date;
  inResponseTo?: string;
  groupsAttribute?: string;
}

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A SAML 2.0 assertion signed (enveloped, exclusive c14n, RSA-SHA256) with the IdP key, as a real IdP sends it. */
export function signedAssertion(o: AssertionOptions): string {
  const now = new Date();
  const notBefore = o.notBefore ?? new Date(now.getTime() - 60_000);
  const notOnOrAfter = o.notOnOrAfter ?? new Date(now.getTime() + 300_000);
  const id = o.id ?? `_${randomUUID()}`;
  const irt = o.inResponseTo ? ` InResponseTo="${xmlText(o.inResponseTo)}"` : '';
  const attr = (name: string, values: string[]) =>
    `<saml:Attribute Name="${xmlText(name)}">${values.map((v) => `<saml:AttributeValue>${xmlText(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`;
  const xml =
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${now.toISOString()}">` +
    `<saml:Issuer>${xmlText(o.issuer)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${xmlText(o.subject)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData NotOnOrAfter="${notOnOrAfter.toISOString()}" Recipient="${xmlText(o.recipient)}"${irt}/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${notBefore.toISOString()}" NotOnOrAfter="${notOnOrAfter.toISOString()}">` +
    `<saml:AudienceRestriction><saml:Audience>${xmlText(o.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${id}"><saml:AuthnContext>` +
    `<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>` +
    `</saml:AuthnContext></saml:AuthnStatement>` +
    `<saml:AttributeStatement>${attr(o.groupsAttribute ?? 'groups', o.groups ?? [])}${o.email ? attr('email', [o.email]) : ''}</saml:AttributeStatement>` +
    `</saml:Assertion>`;
  const sig = new SignedXml({
    privateKey: o.key.privateKey,
    publicCert: o.key.cert,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: "//*[local-name(.)='Assertion']",
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, { location: { reference: "//*[local-name(.)='Issuer']", action: 'after' } });
  return sig.getSignedXml();
}

/** A `<samlp:Response>` answering an AuthnRequest, carrying one signed assertion (HTTP-POST binding). */
export function signedResponse(o: AssertionOptions & { destination: string }): string {
  const irt = o.inResponseTo ? ` InResponseTo="${xmlText(o.inResponseTo)}"` : '';
  return (
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_${randomUUID()}" Version="2.0" ` +
    `IssueInstant="${new Date().toISOString()}" Destination="${xmlText(o.destination)}"${irt}>` +
    `<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${xmlText(o.issuer)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    signedAssertion(o) +
    `</samlp:Response>`
  );
}

export const base64 = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');
