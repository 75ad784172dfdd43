import { createHash, randomBytes, randomUUID, type webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SignJWT,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from 'jose';
import type { Jwks, KeysRequest, RequestDescriptor } from '@airlock/contracts';
import type { Bus } from './bus.js';
import { newContext } from './context.js';
import type { Logger } from './logger.js';

/** The one signature algorithm of Airlock's own tokens: Ed25519, fast to sign and verify, no parameters to get wrong. */
const alg = 'EdDSA';

/** Canonical JSON (object keys sorted), so the same value always has the same digest wherever it is computed. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** SHA-256 of the canonical JSON of `value`, base64url: what signed tokens carry for bulky or secret values. */
export function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}

/** Where a service's private signing keys come from: a variable, a file, or (generated once) the local state folder. */
export interface KeySource {
  /** the service name: `AIRLOCK_<SERVICE>_SIGNING_KEYS` / `AIRLOCK_<SERVICE>_SIGNING_KEYS_FILE` */
  service: string;
  env: Record<string, string | undefined>;
  logger: Logger;
}

export function signingKeyVariables(service: string): { keys: string; file: string } {
  const name = service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return { keys: `AIRLOCK_${name}_SIGNING_KEYS`, file: `AIRLOCK_${name}_SIGNING_KEYS_FILE` };
}

/**
 * The local state folder: `AIRLOCK_STATE_DIR`, default `.airlock` at the root of the checkout (gitignored), so that
 * the demo's services and the CLI beside them find the same keys from any working directory.
 */
export function stateDir(env: Record<string, string | undefined>): string {
  return env['AIRLOCK_STATE_DIR'] || fileURLToPath(new URL('../../../.airlock', import.meta.url));
}

/**
 * Demo mode: `airlock up` without `AIRLOCK_CONFIG` sets `AIRLOCK_DEMO=1` for its services (a test harness may too).
 * Only in demo mode may the demo config be the default and the development issuer run.
 */
export function demoMode(env: Record<string, string | undefined>): boolean {
  return env['AIRLOCK_DEMO'] === '1';
}

interface PrivateJwks {
  keys: JWK[];
}

async function generatedKeys(): Promise<PrivateJwks> {
  const { privateKey } = await generateKeyPair(alg, { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: randomUUID(), alg, use: 'sig' }] };
}

/**
 * Reads a key file, or creates it (mode 0600, in a folder of mode 0700) with `create` when absent; two processes
 * starting at once end with the same key.
 */
export async function keyFile<T>(path: string, create: () => Promise<T>): Promise<{ value: T; created: boolean }> {
  try {
    return { value: JSON.parse(readFileSync(path, 'utf8')) as T, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = `${path}.${process.pid}.${randomUUID()}`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify(await create(), null, 2), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // a read-only image: the key must come from a variable or a mounted file
    throw new Error(
      `cannot create the key file ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give the key by its variable or file (docs/trust-model.md), or set AIRLOCK_STATE_DIR to a writable folder`,
    );
  }
  try {
    linkSync(tmp, path);
    return { value: JSON.parse(readFileSync(path, 'utf8')) as T, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { value: JSON.parse(readFileSync(path, 'utf8')) as T, created: false };
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * A service's own signing keys. The first key of the set signs; every key verifies and is published, so a rotation
 * is: put the new key first, keep the old one after it for as long as tokens it signed may live, then remove it.
 */
export class Signer {
  readonly #issuer: string;
  readonly #typ: string;
  readonly #kid: string;
  readonly #key: CryptoKey;
  readonly #jwks: Jwks;

  private constructor(issuer: string, typ: string, kid: string, key: CryptoKey, jwks: Jwks) {
    this.#issuer = issuer;
    this.#typ = typ;
    this.#kid = kid;
    this.#key = key;
    this.#jwks = jwks;
  }

  /**
   * Loads the keys of `source.service` from `AIRLOCK_<SERVICE>_SIGNING_KEYS` (a JWK Set with private keys), from the
   * file `AIRLOCK_<SERVICE>_SIGNING_KEYS_FILE`, or from `<state dir>/keys/<service>.jwks.json`, generated on first use.
   */
  static async load(source: KeySource, token: { issuer: string; typ: string }): Promise<Signer> {
    const vars = signingKeyVariables(source.service);
    let set: PrivateJwks;
    let origin: string;
    const inline = source.env[vars.keys];
    const file = source.env[vars.file];
    if (inline) {
      set = JSON.parse(inline) as PrivateJwks;
      origin = vars.keys;
    } else {
      const path = file || join(stateDir(source.env), 'keys', `${source.service}.jwks.json`);
      const { value: keys, created } = await keyFile(path, generatedKeys);
      set = keys;
      origin = path;
      if (created) source.logger.warn({ path }, `generated a signing key for ${source.service}; set ${vars.file} to a key kept outside the working directory in production`);
      if (!file) chmodSync(path, 0o600);
    }
    if (!Array.isArray(set.keys) || set.keys.length === 0) throw new Error(`${origin}: no signing key (a JWK Set whose first key is an Ed25519 private key)`);
    const first = set.keys[0]!;
    if (first.kty !== 'OKP' || first.crv !== 'Ed25519' || !first.d || !first.kid) {
      throw new Error(`${origin}: the first key must be an Ed25519 private key with a kid`);
    }
    const key = (await importJWK({ ...first, alg }, alg)) as CryptoKey;
    const publicKeys = set.keys.map(({ kty, crv, x, kid }) => ({ kty, crv, x, kid, alg, use: 'sig' }));
    source.logger.info({ kid: first.kid, keys: publicKeys.length, origin }, `${source.service} signing key loaded`);
    return new Signer(token.issuer, token.typ, first.kid, key, { keys: publicKeys });
  }

  /** Verifies a token this service signed (with any of its keys, current or previous); throws when it does not hold. */
  async verifyOwn(token: string): Promise<JWTPayload & Record<string, unknown>> {
    const { payload } = await jwtVerify(token, createLocalJWKSet(this.#jwks as JSONWebKeySet), { algorithms: [alg], issuer: this.#issuer, typ: this.#typ });
    return payload as JWTPayload & Record<string, unknown>;
  }

  /** The public keys, for the service's `keys` request subject. */
  jwks(): Jwks {
    return this.#jwks;
  }

  /** A compact JWS of `claims`, valid for `ttlSeconds` (null: a record that does not expire), with a fresh `jti`. */
  async sign(claims: Record<string, unknown>, ttlSeconds: number | null): Promise<{ token: string; jti: string }> {
    const jti = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims as JWTPayload).setProtectedHeader({ alg, kid: this.#kid, typ: this.#typ }).setIssuer(this.#issuer).setJti(jti).setIssuedAt(now);
    if (ttlSeconds !== null) jwt.setExpirationTime(now + ttlSeconds);
    return { token: await jwt.sign(this.#key), jti };
  }
}

/**
 * Another service's public keys, fetched over the bus from its `keys` subject and refreshed when a token names a key
 * it does not know (a rotation), at most once a second.
 */
export class TrustedKeys {
  readonly #bus: Bus;
  readonly #descriptor: RequestDescriptor<typeof KeysRequest, typeof Jwks>;
  readonly #issuer: string;
  readonly #typ: string;
  #set: { kids: Set<string>; verify: ReturnType<typeof createLocalJWKSet> } | undefined;
  #fetching: Promise<void> | undefined;
  #fetchedAt = 0;

  constructor(bus: Bus, descriptor: RequestDescriptor<typeof KeysRequest, typeof Jwks>, token: { issuer: string; typ: string }) {
    this.#bus = bus;
    this.#descriptor = descriptor;
    this.#issuer = token.issuer;
    this.#typ = token.typ;
  }

  /** Fetches the key set again, at most once a second (a token naming an unknown key waits for the next slot). */
  async #refresh(): Promise<void> {
    const wait = 1000 - (Date.now() - this.#fetchedAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.#fetching ??= (async () => {
      try {
        const jwks = await this.#bus.call(this.#descriptor, {}, newContext(), { timeoutMs: 5000 });
        this.#set = { kids: new Set(jwks.keys.map((k) => String(k['kid']))), verify: createLocalJWKSet(jwks as JSONWebKeySet) };
      } finally {
        this.#fetchedAt = Date.now();
        this.#fetching = undefined;
      }
    })();
    await this.#fetching;
  }

  /** The verified claims of `token`; throws `Error` with a reason (never the token) when it is not one this issuer signed. */
  async verify(token: string): Promise<JWTPayload & Record<string, unknown>> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      kid = header.kid;
      if (header.alg !== alg) throw new Error();
    } catch {
      throw new Error('not a signed token');
    }
    if (!kid) throw new Error('the token names no key');
    // a key set older than five minutes is fetched again, so a key removed after a rotation stops verifying
    if (!this.#set?.kids.has(kid) || Date.now() - this.#fetchedAt > 300_000) await this.#refresh();
    if (!this.#set?.kids.has(kid)) throw new Error(`the token is signed by an unknown key`);
    try {
      const { payload } = await jwtVerify(token, this.#set.verify, { algorithms: [alg], issuer: this.#issuer, typ: this.#typ, clockTolerance: 5 });
      return payload as JWTPayload & Record<string, unknown>;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED') throw new Error('the token has expired');
      throw new Error('the signature or claims do not verify');
    }
  }
}

/**
 * A service's own symmetric secret (at least 32 bytes): `AIRLOCK_<NAME>` (base64), the file `AIRLOCK_<NAME>_FILE`, or
 * `<state dir>/keys/<name>.key`, generated on first use (mode 0600). Never the shared database.
 */
export function loadSecret(name: string, env: Record<string, string | undefined>, logger: Logger): Buffer {
  const variable = `AIRLOCK_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  const inline = env[variable];
  const file = env[`${variable}_FILE`];
  let text: string;
  if (inline) text = inline;
  else {
    const path = file || join(stateDir(env), 'keys', `${name}.key`);
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || file) throw new Error(`${path}: ${(err as Error).message}`);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      try {
        writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
        logger.warn({ path }, `generated the ${name} secret; set ${variable}_FILE to a secret kept outside the working directory in production`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      text = readFileSync(path, 'utf8');
    }
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length < 32) throw new Error(`${variable}: the secret must be at least 32 bytes, base64-encoded`);
  return key;
}

/** Issuers and token types of Airlock's signed tokens. */
export const tokenKinds = {
  decision: { issuer: 'airlock-policy', typ: 'airlock-decision+jwt' },
  grant: { issuer: 'airlock-approval', typ: 'airlock-grant+jwt' },
  checkpoint: { issuer: 'airlock-audit', typ: 'airlock-audit-checkpoint+jwt' },
} as const;
