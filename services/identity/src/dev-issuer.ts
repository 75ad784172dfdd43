import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AirlockConfig } from '@airlock/config';
import type { DevKey } from './store/dev-keys.js';

export const defaultDevIssuer = 'http://127.0.0.1:8083/dev';

export interface DevTokenOptions {
  subject: string;
  groups: string[];
  /** seconds; may be negative to mint an already-expired token for tests */
  ttlSeconds?: number;
  audience?: string;
  email?: string;
}

export interface DevIssuerSettings {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** The dev issuer's settings, or an error when the config does not enable it. */
export function devIssuerSettings(config: AirlockConfig): DevIssuerSettings {
  const dev = config.identity.devIssuer;
  if (!dev?.enabled) {
    throw new Error('the development issuer is not enabled in the config file (identity.devIssuer.enabled)');
  }
  return { issuer: dev.issuer ?? defaultDevIssuer, audience: dev.audience ?? 'airlock', ttlSeconds: dev.ttlSeconds ?? 3600 };
}

/** Signs a development token. */
/** The longest a development token may live: a leaked one is not a standing credential. */
export const devTokenMaxTtlSeconds = 24 * 3600;

export async function mintDevToken(key: DevKey, settings: DevIssuerSettings, options: DevTokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const ttl = options.ttlSeconds ?? settings.ttlSeconds;
  if (ttl > devTokenMaxTtlSeconds) {
    throw new Error(`the development issuer mints tokens of at most ${devTokenMaxTtlSeconds} seconds (24 h); ask for a shorter --ttl (identity.devIssuer.ttlSeconds for the default)`);
  }
  const jwt = new SignJWT({ groups: options.groups, ...(options.email ? { email: options.email } : {}) })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(settings.issuer)
    .setSubject(options.subject)
    .setAudience(options.audience ?? settings.audience)
    .setJti(randomUUID());
  if (ttl < 0) {
    // an already-expired token: issued and valid from before its expiry
    jwt.setIssuedAt(now + ttl - 60).setNotBefore(now + ttl - 60).setExpirationTime(now + ttl);
  } else {
    jwt.setIssuedAt(now).setNotBefore(now).setExpirationTime(now + ttl);
  }
  return jwt.sign(key.privateKey);
}
