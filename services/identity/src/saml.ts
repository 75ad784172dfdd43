import type pg from 'pg';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import type { SamlIdp } from '@airlock/config';
import type { Principal } from '@airlock/contracts';
import { AirlockError, migrate } from '@airlock/runtime';

/** What a verified bearer credential yields, whichever kind it was. */
export interface VerifiedSaml {
  principal: Principal;
  expiresAt: Date;
}

/** The SAML replay table; applied on first use, or up front by `airlock migrate`. */
export const samlMigrations = [
  {
    id: '001-saml-assertions',
    // an assertion ID is kept until its validity ends: a copy presented again before then is a replay
    sql: `CREATE TABLE identity_saml_assertions (
            issuer text NOT NULL,
            assertion_id text NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (issuer, assertion_id))`,
  },
];

/**
 * True for a base64-encoded XML document: a JWT always has dots, which base64 never does, so the two kinds of bearer
 * credential cannot be confused.
 */
export function looksLikeSaml(token: string): boolean {
  if (token.includes('.') || !/^[A-Za-z0-9+/=\s]+$/.test(token)) return false;
  return Buffer.from(token.slice(0, 64), 'base64').toString('utf8').trimStart().startsWith('<');
}

/** The signing certificates of an IdP's metadata XML (KeyDescriptors not marked for encryption only). */
export function certificatesFromMetadata(metadata: string): string[] {
  const certs: string[] = [];
  for (const kd of metadata.matchAll(/<(?:\w+:)?KeyDescriptor\b([^>]*)>([\s\S]*?)<\/(?:\w+:)?KeyDescriptor>/g)) {
    if (/use\s*=\s*["']encryption["']/.test(kd[1] ?? '')) continue;
    for (const c of (kd[2] ?? '').matchAll(/<(?:\w+:)?X509Certificate>([\s\S]*?)<\/(?:\w+:)?X509Certificate>/g)) {
      certs.push((c[1] ?? '').replace(/\s+/g, ''));
    }
  }
  return certs;
}

/**
 * Verifies signed SAML 2.0 assertions sent as bearer credentials: signature against the IdP's certificate or
 * metadata (node-saml, which refuses wrapped and multiple assertions), audience, bearer recipient, NotBefore /
 * NotOnOrAfter with the configured skew, and replay (the assertion ID is remembered in PostgreSQL until it expires).
 */
export class SamlVerifier {
  readonly #idps: readonly SamlIdp[];
  readonly #pool: pg.Pool;
  readonly #skewMs: number;
  readonly #sps = new Map<string, SAML>();
  #migrated: Promise<void> | undefined;

  constructor(options: { idps: readonly SamlIdp[]; pool: pg.Pool; clockSkewSeconds: number }) {
    this.#idps = options.idps;
    this.#pool = options.pool;
    this.#skewMs = options.clockSkewSeconds * 1000;
  }

  /** `audience`, when given, must be the one the IdP's assertions are checked for. */
  /** `recheck`: verified again for the session it opened; it must then be an assertion already accepted */
  /**
   * `relayed`: the assertion the console received at its own assertion consumer service and relays as its person's
   * bearer credential, checked for the console's SP (its audience and recipient) instead of the database doors'. The
   * console presents it once per call for as long as it is valid, so it is remembered but not refused as a replay.
   */
  async verify(token: string, audience?: string, recheck = false, relayed?: { audience: string; recipient: string }): Promise<VerifiedSaml> {
    const xml = Buffer.from(token, 'base64').toString('utf8');
    const root = /<\s*(?:[A-Za-z_][\w.-]*:)?(Assertion|Response)[\s>]/.exec(xml)?.[1];
    if (!root) {
      throw new AirlockError('identity.invalid_token', 'the credential is neither a SAML assertion nor a SAML response; send a signed SAML 2.0 assertion, base64-encoded');
    }
    // the issuer named before verification only picks the certificate; the verified one is compared below
    const claimed = /<(?:[\w.-]+:)?Issuer\b[^>]*>\s*([^<]+?)\s*</.exec(xml)?.[1];
    const idp = this.#idps.find((i) => i.issuer === claimed);
    if (!idp) {
      throw new AirlockError('identity.unknown_issuer', 'the SAML assertion was issued by an IdP this Airlock does not trust; use an assertion from a configured IdP', {
        issuer: claimed ? claimed.slice(0, 200) : null,
      });
    }
    const sp = relayed ?? { audience: idp.audience, recipient: idp.recipient };
    if (audience !== undefined && audience !== sp.audience) {
      throw new AirlockError('identity.audience_mismatch', `SAML assertions of this IdP are not accepted for audience ${audience}`);
    }
    const response = root === 'Response' ? xml : wrapAssertion(xml);
    let profile: Profile | null;
    try {
      ({ profile } = await this.#sp(idp, sp).validatePostResponseAsync({ SAMLResponse: Buffer.from(response, 'utf8').toString('base64') }));
    } catch (err) {
      throw mapSamlError(err, idp, sp.audience);
    }
    if (!profile) throw new AirlockError('identity.invalid_token', 'the SAML response carries no assertion');
    if (profile.issuer !== idp.issuer) {
      throw new AirlockError('identity.invalid_token', 'the signed SAML assertion names another issuer than the one it claimed');
    }
    const assertion = (profile.getAssertion?.() as { Assertion?: RawAssertion } | undefined)?.Assertion;
    const id = assertion?.$?.ID;
    const conditionsEnd = assertion?.Conditions?.[0]?.$?.NotOnOrAfter;
    if (!assertion || !id || !conditionsEnd) {
      throw new AirlockError('identity.invalid_token', 'the SAML assertion needs an ID and Conditions with NotOnOrAfter to be used as a bearer credential');
    }
    const now = Date.now();
    const bearer = (assertion.Subject?.[0]?.SubjectConfirmation ?? []).filter((s) => s.$?.Method === 'urn:oasis:names:tc:SAML:2.0:cm:bearer');
    const confirmed = bearer.map((s) => s.SubjectConfirmationData?.[0]?.$).find((d) => d?.Recipient === sp.recipient);
    if (!confirmed) {
      throw new AirlockError('identity.audience_mismatch', `the SAML assertion was not issued for this recipient (${sp.recipient}); ask the IdP for one whose bearer confirmation names it`);
    }
    const ends = [Date.parse(conditionsEnd), ...(confirmed.NotOnOrAfter ? [Date.parse(confirmed.NotOnOrAfter)] : [])];
    if (ends.some((t) => Number.isNaN(t))) throw new AirlockError('identity.invalid_token', 'the SAML assertion carries an unreadable NotOnOrAfter');
    const expiresAt = new Date(Math.min(...ends));
    if (expiresAt.getTime() + this.#skewMs <= now) {
      throw new AirlockError('identity.expired_token', 'the SAML assertion has expired; sign in at the IdP again for a fresh one');
    }
    if (recheck) await this.#seen(idp.issuer, id);
    else await this.#remember(idp.issuer, id, new Date(expiresAt.getTime() + this.#skewMs), relayed !== undefined);
    return { principal: toPrincipal(profile, idp), expiresAt };
  }

  async #seen(issuer: string, id: string): Promise<void> {
    this.#migrated ??= migrate(this.#pool, 'identity-saml', samlMigrations).catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    });
    await this.#migrated;
    const { rowCount } = await this.#pool.query('SELECT 1 FROM identity_saml_assertions WHERE issuer = $1 AND assertion_id = $2 AND expires_at > now()', [issuer, id]);
    if (rowCount !== 1) throw new AirlockError('identity.invalid_token', 'this SAML assertion never opened a session here; sign in at the IdP again');
  }

  /** `again`: a relayed assertion, accepted again until it expires (remembered so a database door refuses it) */
  async #remember(issuer: string, id: string, until: Date, again = false): Promise<void> {
    this.#migrated ??= migrate(this.#pool, 'identity-saml', samlMigrations).catch((err: unknown) => {
      this.#migrated = undefined;
      throw err;
    });
    await this.#migrated;
    await this.#pool.query('DELETE FROM identity_saml_assertions WHERE expires_at < now()');
    const { rowCount } = await this.#pool.query(
      'INSERT INTO identity_saml_assertions (issuer, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [issuer, id, until],
    );
    if (rowCount !== 1 && !again) {
      throw new AirlockError('identity.replayed_token', 'this SAML assertion was already used; a bearer assertion is accepted once, so get a fresh one from the IdP');
    }
  }

  #sp(idp: SamlIdp, at: { audience: string; recipient: string }): SAML {
    const cacheKey = JSON.stringify([idp.issuer, at.audience, at.recipient]);
    let sp = this.#sps.get(cacheKey);
    if (!sp) {
      const certs = idp.idpCert ?? (idp.idpMetadata ? certificatesFromMetadata(idp.idpMetadata) : []);
      if ((Array.isArray(certs) && certs.length === 0) || !certs) {
        throw new AirlockError('runtime.unavailable', `the SAML IdP ${idp.issuer} has no signing certificate configured (idpCert or idpMetadata)`);
      }
      sp = new SAML({
        idpCert: certs,
        issuer: at.audience,
        audience: at.audience,
        callbackUrl: at.recipient,
        wantAssertionsSigned: true,
        wantAuthnResponseSigned: false,
        acceptedClockSkewMs: this.#skewMs,
        // a bearer assertion answers no request of ours; replay is checked against the ID store instead
        validateInResponseTo: ValidateInResponseTo.never,
      });
      this.#sps.set(cacheKey, sp);
    }
    return sp;
  }
}

interface RawAssertion {
  $?: { ID?: string };
  Conditions?: Array<{ $?: { NotBefore?: string; NotOnOrAfter?: string } }>;
  Subject?: Array<{
    SubjectConfirmation?: Array<{ $?: { Method?: string }; SubjectConfirmationData?: Array<{ $?: { Recipient?: string; NotOnOrAfter?: string } }> }>;
  }>;
}

/** A bare assertion is checked as the only, signed assertion of an unsigned response, exactly as node-saml checks one. */
function wrapAssertion(xml: string): string {
  const body = xml.replace(/^\s*<\?xml[^>]*\?>/, '');
  return (
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_bearer" Version="2.0" ' +
    `IssueInstant="${new Date().toISOString()}"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>` +
    `</samlp:Status>${body}</samlp:Response>`
  );
}

function mapSamlError(err: unknown, idp: SamlIdp, audience: string): AirlockError {
  if (err instanceof AirlockError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/^Invalid (document )?signature|^Cannot obtain assertion|^Invalid EncryptedAssertion/.test(message)) {
    return new AirlockError('identity.invalid_token', `the SAML assertion's signature does not verify against the certificate of ${idp.issuer}`);
  }
  if (message.startsWith('SAML assertion expired')) {
    return new AirlockError('identity.expired_token', 'the SAML assertion has expired; sign in at the IdP again for a fresh one');
  }
  if (message.startsWith('SAML assertion not yet valid')) {
    return new AirlockError('identity.invalid_token', 'the SAML assertion is not valid yet; check the clock of the IdP');
  }
  if (message.startsWith('SAML assertion audience mismatch') || message.startsWith('SAML assertion has no AudienceRestriction')) {
    return new AirlockError('identity.audience_mismatch', `the SAML assertion was not issued for this audience (${audience}); ask the IdP for one that names it`);
  }
  return new AirlockError('identity.invalid_token', 'the SAML assertion is invalid');
}

function toPrincipal(profile: Profile, idp: SamlIdp): Principal {
  const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
  const raw = attributes[idp.groupsAttribute ?? 'groups'];
  const groups = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((g): g is string => typeof g === 'string' && g !== '');
  const email = attributes[idp.emailAttribute ?? 'email'] ?? profile.email;
  if (!profile.nameID) throw new AirlockError('identity.invalid_token', 'the SAML assertion has no NameID to identify its subject');
  return { subject: profile.nameID, issuer: idp.issuer, groups, ...(typeof email === 'string' ? { email } : {}) };
}
