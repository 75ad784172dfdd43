import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Logger } from './logger.js';

/** A certificate and its key, read from files and read again whenever either changes (a renewed certificate). */
export class TlsFiles {
  readonly certPath: string;
  readonly keyPath: string;
  #current: { cert: Buffer; key: Buffer };
  readonly #listeners: Array<(pair: { cert: Buffer; key: Buffer }) => void> = [];
  readonly #onChange = () => this.#reload();
  readonly #logger: Logger;

  constructor(paths: { certPath: string; keyPath: string }, logger: Logger, pollMs = 1000) {
    this.certPath = paths.certPath;
    this.keyPath = paths.keyPath;
    this.#logger = logger;
    this.#current = this.#read();
    // polled, not inotify: a Kubernetes secret is replaced through a symlink swap that inotify on the file misses
    watchFile(this.certPath, { interval: pollMs, persistent: false }, this.#onChange);
    watchFile(this.keyPath, { interval: pollMs, persistent: false }, this.#onChange);
  }

  /** the certificate and key in use now */
  get current(): { cert: Buffer; key: Buffer } {
    return this.#current;
  }

  /** called with the new pair after each successful reload */
  onChange(listener: (pair: { cert: Buffer; key: Buffer }) => void): void {
    this.#listeners.push(listener);
  }

  close(): void {
    unwatchFile(this.certPath, this.#onChange);
    unwatchFile(this.keyPath, this.#onChange);
  }

  #read(): { cert: Buffer; key: Buffer } {
    return { cert: readFileSync(this.certPath), key: readFileSync(this.keyPath) };
  }

  #reload(): void {
    let pair: { cert: Buffer; key: Buffer };
    try {
      pair = this.#read();
      for (const l of this.#listeners) l(pair);
    } catch (err) {
      // half-written files (the key before the certificate): keep serving the old pair until both match
      this.#logger.warn({ certPath: this.certPath, err: err instanceof Error ? err.message : String(err) }, 'TLS certificate not reloaded; the previous one stays in use');
      return;
    }
    this.#current = pair;
    this.#logger.info({ certPath: this.certPath }, 'TLS certificate reloaded');
  }
}

const isLoopbackHost = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');

/**
 * The certificate an HTTP door serves (`http.tls`), or none on loopback. A door bound beyond loopback without one is
 * refused before it listens, unless `http.allowInsecureNonLoopback` says the network is trusted.
 */
export function httpDoorTls(options: {
  door: string;
  host: string;
  settings: { tls?: { certPath: string; keyPath: string } | undefined; allowInsecureNonLoopback?: boolean | undefined } | undefined;
  logger: Logger;
}): TlsFiles | undefined {
  const s = options.settings ?? {};
  if (s.tls) return new TlsFiles(s.tls, options.logger);
  if (!isLoopbackHost(options.host) && !s.allowInsecureNonLoopback) {
    throw new Error(
      `refusing to serve the ${options.door} on ${options.host} without TLS: bearer tokens would cross the network in clear text. Configure http.tls (HTTPS), or set http.allowInsecureNonLoopback: true`,
    );
  }
  return undefined;
}
