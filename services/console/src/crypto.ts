import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Keys derived from the configured session secret: one to sign cookies, one to seal (AES-256-GCM) what the console
 * keeps for a user (an IdP token at rest, the PKCE verifier in transit). Separate keys so neither use weakens the other.
 */
export class Secrets {
  readonly #signKey: Buffer;
  readonly #sealKey: Buffer;

  constructor(secret: string) {
    if (secret.length < 32) throw new Error('console.sessionSecret must be at least 32 characters');
    this.#signKey = Buffer.from(hkdfSync('sha256', secret, 'airlock-console', 'cookie-signing', 32));
    this.#sealKey = Buffer.from(hkdfSync('sha256', secret, 'airlock-console', 'sealing', 32));
  }

  sign(value: string): string {
    return `${value}.${createHmac('sha256', this.#signKey).update(value).digest('base64url')}`;
  }

  /** The value of a signed string, or undefined when its signature does not match. */
  unsign(signed: string): string | undefined {
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    const expected = Buffer.from(createHmac('sha256', this.#signKey).update(value).digest('base64url'));
    return given.length === expected.length && timingSafeEqual(given, expected) ? value : undefined;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#sealKey, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  unseal(sealed: string): string | undefined {
    try {
      const buf = Buffer.from(sealed, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.#sealKey, buf.subarray(0, 12));
      decipher.setAuthTag(buf.subarray(12, 28));
      return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** Constant-time comparison of two strings of any length. */
export function sameString(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a));
  const y = Buffer.from(sha256(b));
  return timingSafeEqual(x, y) && a.length === b.length;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
  }
  return out;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  path?: string;
  secure: boolean;
  sameSite?: 'Lax' | 'Strict';
}

/** A Set-Cookie value: always HttpOnly; Secure whenever the console is served over https. */
export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${o.path ?? '/'}`,
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`,
    'HttpOnly',
    `SameSite=${o.sameSite ?? 'Lax'}`,
    ...(o.secure ? ['Secure'] : []),
  ].join('; ');
}
