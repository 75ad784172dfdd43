import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { allEventsSubject, auditV1, eventSubject } from '@airlock/contracts';
import type { Bus, Logger, Signer } from '@airlock/runtime';
import { canonicalJson, genesisHash } from './canonical.js';
import { toRecord, type AuditStore, type PartitionHead, type VerifyResult } from './store/events.js';

export interface IntegrityDeps {
  bus: Bus;
  store: AuditStore;
  /** the audit service's own signing keys: checkpoints are signed with them */
  signer: Signer;
  logger: Logger;
  /** where checkpoints are appended, one JSON line each, for an operator to ship elsewhere */
  checkpointFile: string;
  /** the durable consumer that feeds the table: what it acknowledged must be in the table */
  durable: string;
}

interface CheckpointLine {
  /** the last row of the log, and its hash */
  seq: number;
  hash: string;
  /** the head of every partition at that moment, when the log has more than one: they are signed together */
  partitions?: PartitionHead[];
  time: string;
  token: string;
}

/**
 * Keeps the audit table honest from outside it: signed checkpoints of the chain's head (on the stream and in a file),
 * and a verification that checks rows, chain, checkpoints, and the table against the event stream.
 */
export class Integrity {
  readonly #deps: IntegrityDeps;
  #last = '';

  constructor(deps: IntegrityDeps) {
    this.#deps = deps;
    const last = this.#lines().at(-1);
    if (last) this.#last = JSON.stringify(last.partitions ?? last.seq);
  }

  /** The subject of checkpoint events: the audit log does not record its own checkpoints (each would move the head). */
  get checkpointSubject(): string {
    return eventSubject(this.#deps.bus.root, auditV1.checkpoint);
  }

  /**
   * Signs the heads of all partitions together, appends them to the file and publishes them, unless no head moved
   * since the last one. A log of one partition is checkpointed as `{seq, hash}` of its last row, as before partitions.
   */
  async checkpoint(): Promise<CheckpointLine | undefined> {
    const heads = await this.#deps.store.heads();
    const several = heads.some((h) => h.partition !== 1);
    const top = heads.reduce<PartitionHead>((a, h) => (h.seq > a.seq ? h : a), { partition: 1, seq: 0, hash: genesisHash });
    const now = JSON.stringify(several ? heads : top.seq);
    if (now === this.#last) return undefined;
    const claims = several ? { seq: top.seq, hash: top.hash, partitions: heads } : { seq: top.seq, hash: top.hash };
    const { token } = await this.#deps.signer.sign(claims, null);
    const line: CheckpointLine = { ...claims, time: new Date().toISOString(), token };
    mkdirSync(dirname(this.#deps.checkpointFile), { recursive: true });
    appendFileSync(this.#deps.checkpointFile, `${JSON.stringify(line)}\n`);
    this.#last = now;
    await this.#deps.bus.publish(auditV1.checkpoint, { seq: top.seq, hash: top.hash, token });
    return line;
  }

  #lines(): CheckpointLine[] {
    if (!existsSync(this.#deps.checkpointFile)) return [];
    return readFileSync(this.#deps.checkpointFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as CheckpointLine;
        } catch {
          return { seq: -1, hash: '', time: '', token: '' };
        }
      });
  }

  /**
   * Rows and chain first, then every signed checkpoint, then the table against the event stream; the first problem is
   * named. With `partition`, only that partition's chain and its heads in the checkpoints (the stream cross-check,
   * which spans partitions, is left to the whole verification).
   */
  async verify(options: { partition?: number } = {}): Promise<VerifyResult> {
    // what vouches for the table from outside it is read before the table: every row a checkpoint or an acknowledgement
    // taken now vouches for was committed already, so a log still being written is never taken for a cut one
    const lines = this.#lines();
    const floor = options.partition === undefined ? await this.#ackFloor() : undefined;
    const { result: walked, heads, several } = await this.#deps.store.walk(options);
    if (!walked.ok) return walked;
    const chain: VerifyResult = several ? { ...walked, partitions: [...heads].map(([partition, h]) => ({ partition, rows: h.rows, lastSeq: h.seq })) } : walked;
    const bad = (firstBad: NonNullable<VerifyResult['firstBad']>, extra: Partial<VerifyResult> = {}): VerifyResult => ({ ...chain, ok: false, firstBad, ...extra });
    for (const [i, line] of lines.entries()) {
      let claims: Record<string, unknown>;
      try {
        claims = await this.#deps.signer.verifyOwn(line.token);
      } catch {
        return bad({ seq: line.seq, problem: 'checkpoint', message: `checkpoint ${i + 1} of ${this.#deps.checkpointFile} does not verify: its signature or content was changed` });
      }
      // a checkpoint of a single chain vouches for the last row of partition 1
      const vouched: PartitionHead[] = Array.isArray(claims['partitions'])
        ? (claims['partitions'] as PartitionHead[]).map((h) => ({ partition: Number(h.partition), seq: Number(h.seq), hash: String(h.hash) }))
        : [{ partition: 1, seq: Number(claims['seq']), hash: String(claims['hash']) }];
      for (const v of vouched) {
        if (options.partition !== undefined && v.partition !== options.partition) continue;
        const name = several ? { partition: v.partition } : {};
        const end = heads.get(v.partition)?.seq ?? 0;
        if (v.seq > end) {
          return bad(
            {
              seq: end + 1,
              problem: 'truncated',
              message: several
                ? `partition ${v.partition} ends at row ${end} but the checkpoint signed at ${line.time} vouches for its row ${v.seq}: rows of partition ${v.partition} after row ${end} were removed`
                : `the table ends at row ${chain.lastSeq} but the checkpoint signed at ${line.time} vouches for row ${v.seq}: rows ${chain.lastSeq + 1} to ${v.seq} were removed`,
              ...name,
            },
            { checkpoints: i },
          );
        }
        const row = v.seq > 0 ? await this.#deps.store.at(v.seq) : undefined;
        if (v.seq > 0 && (row?.hash !== v.hash || Number(row.partition) !== v.partition)) {
          return bad(
            { seq: v.seq, problem: 'altered', message: `row ${v.seq}${several ? ` of partition ${v.partition}` : ''} differs from the checkpoint signed at ${line.time}: the chain was rewritten up to it`, ...name },
            { checkpoints: i },
          );
        }
      }
    }
    if (floor === undefined) return { ...chain, checkpoints: lines.length };
    // the chain and checkpoints hold, but what the stream says was recorded cannot be known: said, never passed over
    if ('unavailable' in floor) return { ...chain, checkpoints: lines.length, streamUnavailable: floor.unavailable };
    if (floor.floor === 0 && chain.rows > 0) {
      // rows are appended before they are acknowledged: a consumer that acknowledged none was made again since
      return { ...chain, checkpoints: lines.length, streamUnavailable: `the audit consumer ${this.#deps.durable} has acknowledged no event yet while the table holds ${chain.rows} rows (it was made again and is reading the stream from its start)` };
    }
    return this.#crossCheck(chain, lines.length, floor.floor);
  }

  /** The last stream sequence up to which the audit consumer acknowledged every event, or why it cannot be read. */
  async #ackFloor(): Promise<{ floor: number } | { unavailable: string }> {
    const { bus } = this.#deps;
    try {
      const jsm = await bus.js.jetstreamManager();
      const info = await jsm.consumers.info(bus.streamName, this.#deps.durable);
      // what a consumer reading only some subjects acknowledged says nothing about the others
      const filter = allEventsSubject(bus.root);
      if ((info.config.filter_subject ?? '') !== filter || info.config.ack_policy !== AckPolicy.Explicit) {
        return { unavailable: `the audit consumer ${this.#deps.durable} reads "${info.config.filter_subject ?? ''}" with ack policy ${info.config.ack_policy}, not every event ("${filter}") acknowledged one by one` };
      }
      return { floor: info.ack_floor.stream_seq };
    } catch (err) {
      // the audit service creates its consumer before it appends anything: a log without one was not written by it,
      // or the consumer was removed
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) {
        return { unavailable: `the audit consumer ${this.#deps.durable} does not exist on stream ${bus.streamName}` };
      }
      return { unavailable: `the event stream could not be read (${err instanceof Error ? err.message : String(err)})` };
    }
  }

  /**
   * Every event the audit consumer had acknowledged before the table was walked (up to `floor`), as the stream still
   * holds it, must be in the table, unchanged.
   */
  async #crossCheck(chain: VerifyResult, checkpoints: number, floor: number): Promise<VerifyResult> {
    const { bus } = this.#deps;
    if (floor === 0) return { ...chain, checkpoints, streamEvents: 0 };
    const jsm = await bus.js.jetstreamManager();
    // unnamed and ephemeral: the server names it, it cannot be a durable, and it goes away by itself once read
    const created = await jsm.consumers.add(bus.streamName, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      filter_subject: allEventsSubject(bus.root),
      inactive_threshold: 30 * 1_000_000_000,
      mem_storage: true,
    });
    const consumer = await bus.js.consumers.get(bus.streamName, created.name);
    let checked = 0;
    /** the first acknowledged event the table lacks, and the last row present before it in stream order */
    let missing: { eventId: string; type: string; streamSequence: number; after: number } | undefined;
    let lastPresent = 0;
    let presentAfterMissing = false;
    const pending: Array<ReturnType<typeof toRecord> & { streamSequence: number }> = [];
    const flush = async (): Promise<VerifyResult | undefined> => {
      if (pending.length === 0) return undefined;
      const rows = await this.#deps.store.byEventIds(pending.map((p) => p.eventId));
      for (const p of pending) {
        const row = rows.get(p.eventId);
        if (!row) {
          missing ??= { eventId: p.eventId, type: p.eventType, streamSequence: p.streamSequence, after: lastPresent };
          continue;
        }
        if (missing) presentAfterMissing = true;
        else lastPresent = Math.max(lastPresent, row.seq);
        if (canonicalJson(row.payload) !== canonicalJson(p.payload) || row.subject !== p.subject) {
          return {
            ...chain,
            ok: false,
            checkpoints,
            streamEvents: checked,
            firstBad: { seq: row.seq, problem: 'altered', message: `row ${row.seq} differs from event ${p.eventId} as the event stream holds it`, eventId: p.eventId, type: row.event_type },
          };
        }
        checked += 1;
      }
      pending.length = 0;
      return undefined;
    };
    let last = 0;
    while (last < floor) {
      // no more than are left below the floor, so the fetch returns as soon as it has them
      const batch = await consumer.fetch({ max_messages: Math.min(500, floor - last), expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got += 1;
        last = m.info.streamSequence;
        if (last > floor) break;
        if (m.subject === this.checkpointSubject) continue;
        let payload: unknown;
        try {
          payload = JSON.parse(new TextDecoder().decode(m.data));
        } catch {
          payload = undefined;
        }
        pending.push({ ...toRecord({ subject: m.subject, payload, streamSequence: last }), streamSequence: last });
      }
      const problem = await flush();
      if (problem) return problem;
      if (got === 0) break;
    }
    if (missing) {
      const m = missing;
      const what = `event ${m.eventId} (${m.type}, stream sequence ${m.streamSequence})`;
      return {
        ...chain,
        ok: false,
        checkpoints,
        streamEvents: checked,
        firstBad: presentAfterMissing
          ? { seq: m.after + 1, problem: 'missing', message: `the table has no row for ${what}, which the event stream holds after row ${m.after}: rows were removed`, eventId: m.eventId, type: m.type }
          : {
              seq: m.after + 1,
              problem: 'truncated',
              message: `the table ends at row ${chain.lastSeq} but the event stream holds later events it recorded, from ${what}: the tail was removed`,
              eventId: m.eventId,
              type: m.type,
            },
      };
    }
    return { ...chain, checkpoints, streamEvents: checked };
  }
}
