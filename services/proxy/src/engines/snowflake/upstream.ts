import { randomUUID } from 'node:crypto';
import { credentialV1 } from '@airlock/contracts';
import { newContext, type Bus } from '@airlock/runtime';
import type { ColumnInfo, ConnectOptions, UpstreamConnection, UpstreamEngine, UpstreamPortal } from '../engine.js';
import { SnowflakeWireClient } from './wire-client.js';

const textualTypes = new Set(['text', 'variant', 'object', 'array']);

/** DML answers one row of counts; the command tag says what happened, like PostgreSQL's. */
function tagOf(statementTypeId: number, rowtype: Array<Record<string, unknown>>, firstRow: Array<string | null> | undefined, rows: number): string {
  const kind = statementTypeId & 0xff00;
  const sum = () => (firstRow ?? []).reduce((a, v) => a + Number(v ?? 0), 0);
  switch (statementTypeId) {
    case 0x3100:
      return `INSERT 0 ${sum()}`;
    case 0x3200:
      return `UPDATE ${sum()}`;
    case 0x3300:
      return `DELETE ${sum()}`;
    case 0x3400:
      return `MERGE ${sum()}`;
    default:
      if (kind === 0x1000 || rowtype.length > 0) return `SELECT ${rows}`;
      return 'OK';
  }
}

class SnowflakeUpstream implements UpstreamConnection {
  readonly #client: SnowflakeWireClient;
  #timeoutMs: number;
  #running: string | undefined;
  readonly txStatus = 'I' as const;

  constructor(client: SnowflakeWireClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  get closed(): boolean {
    return this.#client.closed;
  }

  get sessionId(): string | undefined {
    return this.#client.sessionId;
  }

  async setTimeout(ms: number): Promise<void> {
    this.#timeoutMs = ms;
  }

  async simple(sql: string): Promise<void> {
    await this.#client.query(sql, [], { requestId: randomUUID(), timeoutMs: this.#timeoutMs });
  }

  async open(sql: string, params: Array<string | null>, context: { queryTag: string }): Promise<UpstreamPortal> {
    const requestId = randomUUID();
    this.#running = requestId;
    let result;
    try {
      result = await this.#client.query(sql, params, { requestId, queryTag: context.queryTag, timeoutMs: this.#timeoutMs });
    } finally {
      this.#running = undefined;
    }
    const columns: ColumnInfo[] = result.rowtype.map((r) => ({
      name: String(r['name'] ?? ''),
      textual: textualTypes.has(String(r['type'] ?? '').toLowerCase()),
      snowflake: r,
    }));
    const isDml = result.statementTypeId >= 0x3000 && result.statementTypeId < 0x4000;
    // inline rows first, then each chunk when the reader asks for more: one chunk in memory at a time
    let pending = result.rowset;
    let chunkIndex = 0;
    let sent = 0;
    const client = this.#client;
    return {
      columns: columns.length > 0 ? columns : null,
      read: async (max) => {
        while (pending.length === 0 && chunkIndex < result.chunks.length) {
          pending = await client.chunk(result.chunks[chunkIndex]!.url, result.chunkHeaders);
          chunkIndex += 1;
        }
        const rows = pending.slice(0, max);
        pending = pending.slice(rows.length);
        sent += rows.length;
        const done = pending.length === 0 && chunkIndex >= result.chunks.length;
        return {
          rows,
          done,
          tag: done ? tagOf(result.statementTypeId, result.rowtype, isDml ? result.rowset[0] : undefined, sent) : undefined,
        };
      },
      close: async () => {
        pending = [];
        chunkIndex = result.chunks.length;
      },
    };
  }

  async cancel(): Promise<void> {
    if (this.#running) await this.#client.abort(this.#running);
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}

/**
 * Upstream Snowflake sessions under a lease: an ephemeral service user by key pair, or an External-OAuth token.
 * An External-OAuth user is shared by every lease of its role, so revoking a lease cannot disable it: each session
 * is recorded with the credential service, which ends exactly those sessions at revocation.
 */
export function snowflakeEngineWith(bus: Bus): UpstreamEngine {
  // false when the lease is no longer live: the credential service has then ended the session itself
  const record = async (leaseId: string, upstreamSessionId: string): Promise<boolean> =>
    (await bus.call(credentialV1.upstreamSession, { leaseId, upstreamSessionId }, newContext(), { timeoutMs: 10_000 })).live;
  return {
    type: 'snowflake',
    connect: async (lease, options) => {
      const upstream = await snowflakeEngine.connect(lease, options);
      if (lease.upstream.type !== 'snowflake' || lease.upstream.authenticator !== 'OAUTH') return upstream;
      const sessionId = (upstream as SnowflakeUpstream).sessionId;
      let live = false;
      try {
        // without a session id the session could not be ended at revocation: refuse it rather than keep it
        live = sessionId !== undefined && (await record(lease.leaseId, sessionId));
      } finally {
        if (!live) await upstream.close().catch(() => undefined);
      }
      if (!live) throw new Error(sessionId === undefined ? 'the Snowflake login answered no session id' : 'the lease was revoked while its session opened');
      return upstream;
    },
  };
}

/** Upstream Snowflake sessions under a lease, without recording them (key-pair leases need no record). */
export const snowflakeEngine: UpstreamEngine = {
  type: 'snowflake',
  connect: async (lease, options: ConnectOptions) => {
    const u = lease.upstream;
    if (u.type !== 'snowflake') throw new Error('not a Snowflake lease');
    const client = await SnowflakeWireClient.login({
      accessUrl: u.accessUrl ?? `https://${u.account}.snowflakecomputing.com`,
      account: u.account,
      user: lease.username,
      role: u.role,
      ...(u.warehouse ? { warehouse: u.warehouse } : {}),
      ...(u.database ? { database: u.database } : {}),
      ...(u.schema ? { schema: u.schema } : {}),
      ...(u.privateKeyPem ? { privateKeyPem: u.privateKeyPem } : {}),
      ...(u.token ? { token: u.token } : {}),
    });
    return new SnowflakeUpstream(client, options.timeoutMs);
  },
};
