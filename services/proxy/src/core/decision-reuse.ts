import type { policyV1, proxyV1 } from '@airlock/contracts';

/**
 * How a proxy instance hears that decisions made before may no longer hold: policy announced another epoch (it
 * started with its config, or found a catalogue changed). Every session's reused decisions end at once.
 */
export class ReuseEpoch {
  #generation = 0;

  get generation(): number {
    return this.#generation;
  }

  advance(): void {
    this.#generation += 1;
  }
}

/** A decision a session may act on again for the same statement text, and until when. */
export interface Reusable {
  decision: policyV1.Decision;
  reused: proxyV1.ReusedDecision;
  /** epoch milliseconds, on this proxy's clock */
  until: number;
  /** the epoch generation it was decided in */
  generation: number;
}

/** Statements per session whose decisions are kept; the least recently used goes first. */
export const MAX_REUSED_DECISIONS = 64;
/** Longer statement texts are decided every time: the cache's memory stays small. */
export const MAX_REUSED_TEXT = 8192;

/** One session's reusable decisions, by exact statement text, bounded in count and text size. */
export class ReusedDecisions {
  readonly #entries = new Map<string, Reusable>();
  readonly #epoch: ReuseEpoch;

  constructor(epoch: ReuseEpoch) {
    this.#epoch = epoch;
  }

  /** The epoch generation now: a decision asked for in it is kept only if no other epoch was announced meanwhile. */
  get generation(): number {
    return this.#epoch.generation;
  }

  /** The decision kept for exactly this text, unless its time passed or policy announced another epoch since. */
  get(sql: string, now: number): Reusable | undefined {
    const entry = this.#entries.get(sql);
    if (!entry) return undefined;
    this.#entries.delete(sql);
    if (entry.generation !== this.#epoch.generation || now >= entry.until) return undefined;
    this.#entries.set(sql, entry);
    return entry;
  }

  set(sql: string, entry: Reusable): void {
    if (sql.length > MAX_REUSED_TEXT || entry.generation !== this.#epoch.generation) return;
    this.#entries.delete(sql);
    this.#entries.set(sql, entry);
    if (this.#entries.size > MAX_REUSED_DECISIONS) this.#entries.delete(this.#entries.keys().next().value!);
  }

  clear(): void {
    this.#entries.clear();
  }
}
