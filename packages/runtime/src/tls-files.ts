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
