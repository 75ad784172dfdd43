import { credentialV1 } from '@airlock/contracts';
import { newContext, type Bus, type Logger } from '@airlock/runtime';

/** Renews the leases this proxy instance holds; when renewals stop, the credential service revokes them. */
export class LeaseKeeper {
  readonly #held = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  readonly #bus: Bus;
  readonly #holder: string;
  readonly #logger: Logger;

  constructor(bus: Bus, holder: string, intervalSeconds: number, logger: Logger) {
    this.#bus = bus;
    this.#holder = holder;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.beat(), intervalSeconds * 1000);
    this.#timer.unref();
  }

  hold(leaseId: string): void {
    this.#held.add(leaseId);
  }

  release(leaseId: string): void {
    this.#held.delete(leaseId);
  }

  get size(): number {
    return this.#held.size;
  }

  async beat(): Promise<void> {
    if (this.#held.size === 0) return;
    try {
      await this.#bus.call(credentialV1.heartbeat, { holder: this.#holder, leaseIds: [...this.#held] }, newContext(), { timeoutMs: 5000 });
    } catch (err) {
      this.#logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease heartbeat failed');
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
