import net from 'node:net';
import pg from 'pg';
import Cursor from 'pg-cursor';
import type { credentialV1 } from '@airlock/contracts';
import type { ColumnInfo, FieldDescription, ConnectOptions, UpstreamConnection, UpstreamEngine, UpstreamPortal } from '../engine.js';

/** PostgreSQL type OIDs whose text form is free text. */
const textualTypes = new Set([25, 1043, 1042, 19, 18, 114, 3802, 142, 705, 1009, 1015]);
/**
 * Startup options for every upstream session: string literals are read the way libpg-query reads them
 * (`standard_conforming_strings`), `\'` is never a quote (`backslash_quote`), and text arrives as UTF-8.
 */
export const PINNED_SETTINGS = '-c standard_conforming_strings=on -c backslash_quote=safe_encoding -c client_encoding=UTF8';

/** Of those, the ones whose text follows a grammar (json, jsonb, xml, text[], varchar[]). */
const structuredTypes = new Set([114, 3802, 142, 1009, 1015]);

type PgGrant = Extract<credentialV1.LeaseGrant['upstream'], { type: 'postgres' }>;

/** Values stay as the server's text: the proxy re-encodes them unchanged, so nothing is parsed on the data path. */
const rawTypes = { getTypeParser: () => (value: string) => value };


/** The parts of pg-cursor's message handlers this class hooks into (not in its type declarations). */
interface CursorInternals {
  state: string;
  handleRowDescription(msg: unknown): void;
  _ifNoData(): void;
  handleCommandComplete(msg: unknown): void;
  handleError(msg: unknown): void;
  read(rows: number, cb: (err: Error | undefined, rows: Array<Array<string | null>>) => void): void;
  close(cb: () => void): void;
}
const CursorBase = Cursor as unknown as new (text: string, values: unknown[] | undefined, config: object) => CursorInternals;

class TaggedCursor extends CursorBase {
  tag: string | undefined;
  fieldsKnown: Promise<FieldDescription[] | null>;
  #resolveFields!: (f: FieldDescription[] | null) => void;
  #rejectFields!: (e: unknown) => void;

  constructor(text: string, values: unknown[] | undefined) {
    super(text, values, { rowMode: 'array', types: rawTypes });
    this.fieldsKnown = new Promise((resolve, reject) => {
      this.#resolveFields = resolve;
      this.#rejectFields = reject;
    });
    this.fieldsKnown.catch(() => undefined);
  }
  override handleRowDescription(msg: { fields: Array<{ name: string; tableID: number; columnID: number; dataTypeID: number; dataTypeSize: number; dataTypeModifier: number }> }): void {
    super.handleRowDescription(msg);
    this.#resolveFields(
      msg.fields.map((f) => ({
        name: f.name,
        tableOid: f.tableID,
        columnAttr: f.columnID,
        typeOid: f.dataTypeID,
        typeSize: f.dataTypeSize,
        typeModifier: f.dataTypeModifier,
      })),
    );
  }
  override _ifNoData(): void {
    super._ifNoData();
    this.#resolveFields(null);
  }
  override handleCommandComplete(msg: { text: string }): void {
    this.tag = msg.text;
    super.handleCommandComplete(msg);
  }
  override handleError(msg: unknown): void {
    this.#rejectFields(msg);
    super.handleError(msg);
  }
}

/**
 * pg writes every protocol message on its own (Parse, Bind, Describe, Flush; Execute, Flush; Close, Sync): the
 * messages written in one synchronous step leave in one write, sent before the event loop moves on.
 */
function gatherWrites(stream: net.Socket): void {
  const write = stream.write;
  let corked = false;
  stream.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>): boolean {
    if (!corked) {
      corked = true;
      this.cork();
      process.nextTick(() => {
        corked = false;
        this.uncork();
      });
    }
    return write.apply(this, args);
  } as net.Socket['write'];
}

/** One upstream PostgreSQL connection, authenticated with a lease's ephemeral role. */
export class PostgresUpstream implements UpstreamConnection {
  readonly #client: pg.Client;
  readonly #grant: PgGrant;
  #txStatus: 'I' | 'T' | 'E' = 'I';
  #timeoutMs: number;
  readonly #startupTimeoutMs: number;
  #closed = false;

  private constructor(client: pg.Client, grant: PgGrant, timeoutMs: number) {
    this.#client = client;
    this.#grant = grant;
    this.#timeoutMs = timeoutMs;
    this.#startupTimeoutMs = timeoutMs;
    const connection = (client as unknown as { connection: NodeJS.EventEmitter & { stream: net.Socket } }).connection;
    gatherWrites(connection.stream);
    connection.on('readyForQuery', (m: { status: string }) => {
      if (m.status === 'I' || m.status === 'T' || m.status === 'E') this.#txStatus = m.status;
    });
  }

  static async connect(grant: PgGrant, username: string, options: { applicationName: string; timeoutMs: number }): Promise<PostgresUpstream> {
    const client = new pg.Client({
      host: grant.host,
      port: grant.port,
      database: grant.database,
      user: username,
      password: grant.password,
      ssl: grant.ssl ? { rejectUnauthorized: true, ...(grant.sslRootCert ? { ca: grant.sslRootCert } : {}) } : false,
      application_name: options.applicationName.slice(0, 63),
      statement_timeout: options.timeoutMs,
      // the settings that decide how the server reads a statement's bytes, pinned to what the policy analyser
      // assumes, whatever the database, the role or a DBA set as defaults (clients can never change them: policy
      // refuses SET of these)
      options: PINNED_SETTINGS,
      connectionTimeoutMillis: 10_000,
    });
    await client.connect();
    const upstream = new PostgresUpstream(client, grant, options.timeoutMs);
    client.on('error', () => {
      upstream.#closed = true;
    });
    client.on('end', () => {
      upstream.#closed = true;
    });
    return upstream;
  }

  get txStatus(): 'I' | 'T' | 'E' {
    return this.#txStatus;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async setTimeout(ms: number): Promise<void> {
    if (ms === this.#timeoutMs) return;
    await this.#client.query(`SET statement_timeout = ${Math.floor(ms)}`);
    this.#timeoutMs = ms;
  }

  async simple(sql: string): Promise<void> {
    await this.#client.query(sql);
  }

  async open(sql: string, params: Array<string | null>): Promise<UpstreamPortal> {
    const cursor = new TaggedCursor(sql, params.length > 0 ? params : undefined);
    this.#client.query(cursor as never);
    const fields = await cursor.fieldsKnown;
    const columns: ColumnInfo[] | null = fields?.map((f) => ({ name: f.name, textual: textualTypes.has(f.typeOid), structured: structuredTypes.has(f.typeOid), pg: f })) ?? null;
    return {
      columns,
      read: (max) =>
        new Promise((resolve, reject) => {
          cursor.read(max, (err, rows) => {
            if (err) reject(err);
            else {
              const done = cursor.state === 'done';
              // DISCARD ALL and RESET return statement_timeout to its start-up value: set the lease's limit again next time
              if (done && cursor.tag !== undefined && /^(DISCARD|RESET)\b/.test(cursor.tag)) this.#timeoutMs = this.#startupTimeoutMs;
              resolve({ rows, done, tag: cursor.tag });
            }
          });
        }),
      close: () => new Promise<void>((resolve) => cursor.close(() => resolve())),
    };
  }

  /** Asks the server to cancel the running statement, over a separate connection as the protocol requires. */
  cancel(): Promise<void> {
    const c = this.#client as unknown as { processID: number | null; secretKey: number | null };
    if (c.processID == null || c.secretKey == null) return Promise.resolve();
    return new Promise((resolve) => {
      const socket = net.connect(this.#grant.port, this.#grant.host, () => {
        const b = Buffer.alloc(16);
        b.writeInt32BE(16, 0);
        b.writeInt32BE(80877102, 4);
        b.writeInt32BE(c.processID!, 8);
        b.writeInt32BE(c.secretKey!, 12);
        socket.end(b);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.setTimeout(2000, () => socket.destroy());
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.end().catch(() => undefined);
  }
}

/** Upstream PostgreSQL connections under a lease's ephemeral role. */
export const postgresEngine: UpstreamEngine = {
  type: 'postgres',
  connect: async (lease, options: ConnectOptions) => {
    if (lease.upstream.type !== 'postgres') throw new Error('not a PostgreSQL lease');
    return PostgresUpstream.connect(lease.upstream, lease.username, options);
  },
};
