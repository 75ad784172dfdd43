import net from 'node:net';
import tls from 'node:tls';
import { randomInt, randomUUID } from 'node:crypto';
import type { Principal } from '@airlock/contracts';
import { AirlockError, type Logger } from '@airlock/runtime';
import type { ActiveStatement, OpenHooks, Session } from '../../core/session.js';
import { classify } from '../../core/errors.js';
import type { ColumnInfo } from '../../engines/engine.js';
import * as P from './protocol.js';
import { binaryParamToText, textToBinary } from './binary.js';

/** What the front door needs from the rest of the proxy. */
export interface PgwireHandlers {
  /** verifies the password (an OIDC token) and says when it expires; throws an AirlockError with an identity.* code when refused */
  authenticate(token: string, info: { user: string; database: string; client: string; sessionId: string }): Promise<{ principal: Principal; expiresAt: Date }>;
  /** opens a session on the named connection, or throws (unknown connection, wrong type) */
  openSession(principal: Principal, database: string, client: string, sessionId: string): Session;
}

export interface PgwireOptions {
  host: string;
  port: number;
  logger: Logger;
  handlers: PgwireHandlers;
  /** the certificate and key in use now (proxy.tls): read at each TLS handshake, so a renewed one is taken at once */
  tls?: () => tls.SecureContextOptions;
  allowInsecureNonLoopback?: boolean;
  /** rows read from upstream per batch */
  batchRows?: number;
  /** what a connection may do before it authenticates */
  limits: PreAuthLimits;
}

/** Limits before login (`proxy.limits`): a stranger holds a bounded number of sockets, bytes and seconds. */
export interface PreAuthLimits {
  authTimeoutMs: number;
  maxUnauthenticated: number;
  maxUnauthenticatedPerAddress: number;
  maxStartupBytes: number;
}

/** replies gathered past this size are sent without waiting for the end of the response */
const FLUSH_BYTES = 64 * 1024;

/** rows asked for per read of DataRow bytes: as many as the upstream's batch holds */
const WIRE_READ_ROWS = 16_384;

/** the largest message of an authenticated connection (a statement with its parameters) */
const MAX_MESSAGE_AFTER_LOGIN = 64 * 1024 * 1024;

/** RowDescription fields; a column from another engine is described as text. */
function pgFields(columns: readonly ColumnInfo[]): P.FieldDescription[] {
  return columns.map((c) => c.pg ?? { name: c.name, tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1 });
}

const loopback = (host: string) =>
  host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.') || host.startsWith('::ffff:127.');

/** The PostgreSQL wire-protocol front door: startup, cleartext password = OIDC token, simple and extended query. */
export class PgwireServer {
  readonly #options: PgwireOptions;
  readonly #server: net.Server;
  readonly #connections = new Set<PgConnection>();
  readonly #byKey = new Map<string, PgConnection>();
  /** connections not yet authenticated, in all and per source address */
  #unauthenticated = 0;
  readonly #unauthenticatedBy = new Map<string, number>();

  constructor(options: PgwireOptions) {
    if (!loopback(options.host) && !options.tls && !options.allowInsecureNonLoopback) {
      throw new Error(
        `refusing to listen on ${options.host} without TLS: tokens travel as passwords. Configure proxy.tls, or set proxy.allowInsecureNonLoopback: true`,
      );
    }
    this.#options = options;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => resolve());
    });
    return (this.#server.address() as net.AddressInfo).port;
  }

  #accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    const address = socket.remoteAddress ?? '?';
    const limits = this.#options.limits;
    const fromAddress = this.#unauthenticatedBy.get(address) ?? 0;
    const refusal =
      fromAddress >= limits.maxUnauthenticatedPerAddress
        ? `too many connections from ${address} are waiting to authenticate: the limit is ${limits.maxUnauthenticatedPerAddress} per address (proxy.limits.maxUnauthenticatedPerAddress); authenticate the open ones or try again later`
        : this.#unauthenticated >= limits.maxUnauthenticated
          ? `too many connections are waiting to authenticate: the limit is ${limits.maxUnauthenticated} (proxy.limits.maxUnauthenticated); try again later`
          : undefined;
    if (refusal) {
      // refused before reading a byte: the socket costs nothing more than this message
      socket.end(P.errorResponse({ severity: 'FATAL', code: '53300', message: refusal }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.#unauthenticated += 1;
    this.#unauthenticatedBy.set(address, fromAddress + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#unauthenticated -= 1;
      const left = (this.#unauthenticatedBy.get(address) ?? 1) - 1;
      if (left <= 0) this.#unauthenticatedBy.delete(address);
      else this.#unauthenticatedBy.set(address, left);
    };
    const conn = new PgConnection(socket, this.#options, {
      register: (pid, key) => this.#byKey.set(`${pid}:${key}`, conn),
      unregister: (pid, key) => this.#byKey.delete(`${pid}:${key}`),
      cancel: (pid, key) => void this.#byKey.get(`${pid}:${key}`)?.cancel(),
      authenticated: release,
    });
    conn.done.finally(release);
    this.#connections.add(conn);
    conn.done.finally(() => this.#connections.delete(conn));
  }

  /** Stops accepting, ends every session (revoking its leases) and waits for them. */
  async close(): Promise<void> {
    // the server's close completes only once every connection has ended: the sessions are ended first, not after
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([...this.#connections].map((c) => c.terminate('proxy-shutdown')));
    await stopped;
  }
}

interface Registry {
  register(pid: number, key: number): void;
  unregister(pid: number, key: number): void;
  cancel(pid: number, key: number): void;
  /** the connection authenticated: it no longer counts against the limits before login */
  authenticated(): void;
}

interface Portal {
  sql: string;
  params: Array<string | null>;
  /** the Bind's result-format codes: binary columns are converted from the (masked) text at the edge */
  formats: number[];
  active?: ActiveStatement;
  /** the statement failed while opening: Execute reports it */
  finished?: boolean;
}

class PgConnection {
  readonly done: Promise<void>;
  #socket: net.Socket | tls.TLSSocket;
  /** replies not yet sent: they leave together when the client waits for them (see #flush) */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #options: PgwireOptions;
  readonly #registry: Registry;
  readonly #buffer: P.MessageBuffer;
  /** a password message was taken and is being checked: nothing more is read until it is */
  #passwordTaken = false;
  #authDeadline: NodeJS.Timeout | undefined;
  #phase: 'startup' | 'password' | 'ready' | 'closed' = 'startup';
  #startup: { user: string; database: string } | undefined;
  #session: Session | undefined;
  #queue: Promise<void> = Promise.resolve();
  #statements = new Map<string, { sql: string; types: number[] }>();
  #portals = new Map<string, Portal>();
  #skipUntilSync = false;
  #pid = 0;
  #key = 0;
  #resolveDone!: () => void;
  #client: string;
  /** chosen at connect, so the token check and the session share one id in the audit log */
  readonly #sessionId = randomUUID();
  /** when the token that opened the session expires: the session ends then, and its next statement is refused */
  #notAfter: Date | undefined;
  #expiry: NodeJS.Timeout | undefined;

  constructor(socket: net.Socket, options: PgwireOptions, registry: Registry) {
    this.#socket = socket;
    this.#options = options;
    this.#registry = registry;
    this.#client = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.#buffer = new P.MessageBuffer(options.limits.maxStartupBytes);
    this.done = new Promise((r) => (this.#resolveDone = r));
    this.#attach(socket);
    const seconds = options.limits.authTimeoutMs / 1000;
    this.#authDeadline = setTimeout(() => {
      if (this.#phase === 'ready') return;
      this.#fatal('08P01', `Airlock closed this connection: it did not authenticate within ${seconds} s (proxy.limits.authTimeoutSeconds)`);
    }, options.limits.authTimeoutMs);
    this.#authDeadline.unref();
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('error', () => undefined);
    socket.on('close', () => void this.terminate('client-disconnected'));
  }

  #onData(data: Buffer): void {
    if (this.#phase === 'closed') return;
    try {
      this.#buffer.push(data);
      if (this.#phase === 'startup') {
        const packet = this.#buffer.nextStartup();
        if (packet) this.#enqueue(() => this.#onStartup(packet));
      } else {
        this.#drainTyped();
      }
      if (this.#phase !== 'ready' && this.#buffer.pending > this.#buffer.limit) {
        // before login nothing is buffered beyond one message: a stranger cannot make the proxy hold its bytes
        throw new P.MessageTooLarge(this.#buffer.pending, this.#buffer.limit);
      }
      if (this.#phase === 'startup') return;
      // apply backpressure to a client that pipelines faster than statements complete
      if (this.#buffer.pending > 1024 * 1024) this.#socket.pause();
    } catch (err) {
      this.#protocolViolation(err);
    }
  }

  #protocolViolation(err: unknown): void {
    if (err instanceof P.MessageTooLarge && this.#phase !== 'ready') {
      return this.#fatal(
        '08P01',
        `Airlock accepts at most ${err.limit} bytes before authentication (proxy.limits.maxStartupBytes); this connection sent a message of ${err.size} bytes`,
      );
    }
    this.#fatal('08P01', `protocol violation: ${err instanceof Error ? err.message : 'bad message'}`);
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch((err: unknown) => {
      this.#options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'pgwire connection failed');
      void this.terminate('protocol-error');
    });
  }

  async #onStartup(packet: Buffer): Promise<void> {
    const r = new P.MessageReader(packet);
    const code = r.int32();
    if (code === P.sslRequestCode) {
      if (this.#options.tls && !(this.#socket instanceof tls.TLSSocket)) {
        this.#socket.write('S');
        const plain = this.#socket as net.Socket;
        plain.removeAllListeners('data');
        plain.removeAllListeners('close');
        const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: tls.createSecureContext(this.#options.tls()) });
        this.#socket = secure;
        this.#attach(secure);
      } else {
        this.#socket.write('N');
      }
      this.#drainStartup();
      return;
    }
    if (code === P.gssEncRequestCode) {
      this.#socket.write('N');
      this.#drainStartup();
      return;
    }
    if (code === P.cancelRequestCode) {
      this.#registry.cancel(r.int32(), r.int32());
      this.#socket.end();
      return;
    }
    if (code !== P.protocolVersion) {
      this.#fatal('08P01', 'unsupported frontend protocol: Airlock speaks protocol 3.0');
      return;
    }
    if (this.#tlsRequired()) {
      // the token is about to be asked for as a clear-text password: outside loopback it travels only inside TLS
      this.#fatal(
        '28000',
        'Airlock requires TLS on this address: your token would cross the network in clear text. Connect with sslmode=require (or verify-full with the proxy\'s CA)',
      );
      return;
    }
    const params: Record<string, string> = {};
    for (;;) {
      const key = r.cstring();
      if (key === '') break;
      params[key] = r.cstring();
    }
    this.#startup = { user: params['user'] ?? '', database: params['database'] ?? params['user'] ?? '' };
    this.#phase = 'password';
    this.#write(P.authenticationRequest(3));
    this.#flush();
    this.#drainTyped();
  }

  /** TLS is configured, this connection arrived over a non-loopback interface of a non-loopback bind, and it is not TLS yet. */
  #tlsRequired(): boolean {
    if (!this.#options.tls || this.#socket instanceof tls.TLSSocket) return false;
    if (loopback(this.#options.host)) return false;
    return !loopback(this.#socket.localAddress ?? '');
  }

  #drainStartup(): void {
    try {
      const packet = this.#buffer.nextStartup();
      if (packet) this.#enqueue(() => this.#onStartup(packet));
    } catch (err) {
      this.#protocolViolation(err);
    }
  }

  #drainTyped(): void {
    try {
      for (;;) {
        // one password message at a time: what follows it waits, bounded, until the token is checked
        if (this.#phase === 'password' && this.#passwordTaken) return;
        const m = this.#buffer.next();
        if (!m) return;
        if (this.#phase === 'password') this.#passwordTaken = true;
        this.#enqueue(() => this.#onMessage(m.type, m.body));
      }
    } catch (err) {
      this.#protocolViolation(err);
    }
  }

  async #onMessage(type: string, body: Buffer): Promise<void> {
    if (this.#phase === 'closed') return;
    if (this.#phase === 'password') {
      if (type !== 'p') return this.#fatal('08P01', 'expected a password message');
      return this.#onPassword(new P.MessageReader(body).cstring());
    }
    if (this.#socket.isPaused() && this.#buffer.pending < 256 * 1024) this.#socket.resume();
    if (type !== 'X' && this.#notAfter && Date.now() >= this.#notAfter.getTime()) return this.#expired();
    if (this.#skipUntilSync && type !== 'S') return;
    try {
      switch (type) {
        case 'Q':
          return await this.#simpleQuery(new P.MessageReader(body).cstring());
        case 'P':
          return this.#parse(new P.MessageReader(body));
        case 'B':
          return this.#bind(new P.MessageReader(body));
        case 'D':
          return await this.#describe(new P.MessageReader(body));
        case 'E':
          return await this.#execute(new P.MessageReader(body));
        case 'S':
          this.#skipUntilSync = false;
          await this.#closePortal('');
          return this.#ready();
        case 'C': {
          const r = new P.MessageReader(body);
          const kind = String.fromCharCode(r.byte());
          const name = r.cstring();
          if (kind === 'S') this.#statements.delete(name);
          else await this.#closePortal(name);
          this.#write(P.closeComplete);
          return;
        }
        case 'H':
          this.#flush();
          return;
        case 'X':
          return this.terminate('client-terminated');
        case 'd':
        case 'c':
        case 'f':
          throw new AirlockError('runtime.invalid_request', 'COPY is not supported through Airlock', { sqlState: '0A000' });
        default:
          throw new AirlockError('runtime.invalid_request', `unsupported protocol message "${type}"`, { sqlState: '08P01' });
      }
    } catch (err) {
      this.#sendError(err);
      if (type !== 'Q') this.#skipUntilSync = true;
      else this.#ready();
    }
  }

  async #onPassword(token: string): Promise<void> {
    const startup = this.#startup!;
    let principal: Principal;
    try {
      const verified = await this.#options.handlers.authenticate(token, { ...startup, client: this.#client, sessionId: this.#sessionId });
      principal = verified.principal;
      this.#notAfter = verified.expiresAt;
    } catch (err) {
      const e = classify(err);
      const sqlState = e.code.startsWith('identity.') ? '28P01' : e.sqlState;
      return this.#fatal(sqlState, `Airlock could not authenticate you: ${e.message}`);
    }
    // the connection ended while the token was checked (its deadline passed, the client left): no session for it
    if (this.#phase === 'closed') return;
    try {
      this.#session = this.#options.handlers.openSession(principal, startup.database, this.#client, this.#sessionId);
      // the credential was revoked elsewhere: tell the client in its protocol and end the connection
      this.#session.onTerminate((message) => this.#fatal('57P01', message));
    } catch (err) {
      const e = classify(err);
      return this.#fatal(e.sqlState, e.message);
    }
    this.#watchExpiry();
    this.#pid = randomInt(1, 2 ** 31 - 1);
    this.#key = randomInt(1, 2 ** 31 - 1);
    this.#registry.register(this.#pid, this.#key);
    this.#phase = 'ready';
    clearTimeout(this.#authDeadline);
    this.#registry.authenticated();
    this.#buffer.limit = MAX_MESSAGE_AFTER_LOGIN;
    this.#write(
      Buffer.concat([
        P.authenticationRequest(0),
        P.parameterStatus('server_version', '15.0'),
        P.parameterStatus('server_encoding', 'UTF8'),
        P.parameterStatus('client_encoding', 'UTF8'),
        P.parameterStatus('DateStyle', 'ISO, MDY'),
        P.parameterStatus('integer_datetimes', 'on'),
        P.parameterStatus('standard_conforming_strings', 'on'),
        P.parameterStatus('is_superuser', 'off'),
        P.parameterStatus('session_authorization', principal.subject),
        P.parameterStatus('application_name', 'airlock'),
        P.backendKeyData(this.#pid, this.#key),
        P.readyForQuery('I'),
      ]),
    );
    this.#flush();
    this.#drainTyped();
  }

  async #simpleQuery(sql: string): Promise<void> {
    const session = this.#session!;
    if (sql.trim() === '' || /^[\s;]*$/.test(sql)) {
      this.#write(P.emptyQueryResponse);
      return this.#ready();
    }
    const active = await session.open(sql, [], this.#hooks());
    if (active.columns) this.#write(P.rowDescription(pgFields(active.columns)));
    await this.#stream(active, 0);
    this.#ready();
  }

  #parse(r: P.MessageReader): void {
    const name = r.cstring();
    const sql = r.cstring();
    const n = r.int16();
    const types: number[] = [];
    for (let i = 0; i < n; i++) types.push(r.int32());
    this.#statements.set(name, { sql, types });
    this.#write(P.parseComplete);
  }

  #bind(r: P.MessageReader): void {
    const portal = r.cstring();
    const statement = r.cstring();
    const stmt = this.#statements.get(statement);
    if (!stmt) throw new AirlockError('runtime.invalid_request', `prepared statement "${statement}" does not exist`, { sqlState: '26000' });
    const nFormats = r.int16();
    const formats: number[] = [];
    for (let i = 0; i < nFormats; i++) formats.push(r.int16());
    const nParams = r.int16();
    const params: Array<string | null> = [];
    for (let i = 0; i < nParams; i++) {
      const len = r.int32();
      const format = nFormats === 0 ? 0 : nFormats === 1 ? formats[0] : formats[i];
      if (len < 0) {
        params.push(null);
        continue;
      }
      const bytes = r.bytes(len);
      params.push(format === 1 ? binaryParamToText(stmt.types[i] ?? 0, bytes) : bytes.toString('utf8'));
    }
    const nResult = r.int16();
    const resultFormats: number[] = [];
    for (let i = 0; i < nResult; i++) resultFormats.push(r.int16());
    if (portal !== '' && this.#portals.has(portal)) {
      throw new AirlockError('runtime.invalid_request', `portal "${portal}" already exists`, { sqlState: '42P03' });
    }
    this.#portals.set(portal, { sql: stmt.sql, params, formats: resultFormats });
    this.#write(P.bindComplete);
  }

  async #describe(r: P.MessageReader): Promise<void> {
    const kind = String.fromCharCode(r.byte());
    const name = r.cstring();
    if (kind === 'S') {
      const stmt = this.#statements.get(name);
      if (!stmt) throw new AirlockError('runtime.invalid_request', `prepared statement "${name}" does not exist`, { sqlState: '26000' });
      const count = Math.max(stmt.types.length, ...[...stmt.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])), 0);
      // the row shape of a statement is known only once it runs under a lease; clients that need it describe the portal
      this.#write(P.parameterDescription(Array.from({ length: count }, (_, i) => stmt.types[i] || 25)));
      this.#write(P.noData);
      return;
    }
    const portal = this.#portals.get(name);
    if (!portal) throw new AirlockError('runtime.invalid_request', `portal "${name}" does not exist`, { sqlState: '34000' });
    const active = await this.#activate(portal);
    this.#write(active.columns ? P.rowDescription(pgFields(active.columns), portal.formats) : P.noData);
  }

  async #activate(portal: Portal): Promise<ActiveStatement> {
    if (!portal.active) {
      if (portal.sql.trim() === '') throw new AirlockError('runtime.invalid_request', 'empty statement', { sqlState: '42601' });
      portal.active = await this.#session!.open(portal.sql, portal.params, this.#hooks());
    }
    return portal.active;
  }

  async #execute(r: P.MessageReader): Promise<void> {
    const name = r.cstring();
    const maxRows = r.int32();
    const portal = this.#portals.get(name);
    if (!portal) throw new AirlockError('runtime.invalid_request', `portal "${name}" does not exist`, { sqlState: '34000' });
    if (portal.sql.trim() === '') {
      this.#write(P.emptyQueryResponse);
      return;
    }
    if (portal.finished) throw new AirlockError('runtime.invalid_request', `portal "${name}" has completed`, { sqlState: '34000' });
    const active = await this.#activate(portal);
    const completed = await this.#stream(active, maxRows, portal.formats);
    if (completed) portal.finished = true;
  }

  /** Streams rows to the client, waiting for the socket to drain between batches: memory stays bounded. */
  async #stream(active: ActiveStatement, maxRows: number, formats: readonly number[] = []): Promise<boolean> {
    const batch = this.#options.batchRows ?? 1000;
    const oids = formats.some((f) => f === 1) ? pgFields(active.columns ?? []).map((f, i) => (P.formatOf(formats, i) === 1 ? f.typeOid : undefined)) : undefined;
    // rows in text format leave as the DataRow messages the upstream sent, masked in place; binary columns are
    // converted from the masked text
    const readWire = oids === undefined ? active.readWire?.bind(active) : undefined;
    // bytes are read as the upstream's batches end (it bounds them by size): one write per batch
    const per = readWire ? WIRE_READ_ROWS : batch;
    let sent = 0;
    for (;;) {
      const want = maxRows > 0 ? Math.min(per, maxRows - sent) : per;
      let done: boolean;
      let tag: string | undefined;
      if (readWire) {
        const b = await readWire(want);
        ({ done, tag } = b);
        if (b.count > 0) {
          sent += b.count;
          await this.#writeAndDrain(...b.parts);
        }
      } else {
        const b = await active.read(want);
        ({ done, tag } = b);
        if (b.rows.length > 0) {
          const rows = b.rows;
          sent += rows.length;
          await this.#writeAndDrain(P.dataRows(oids === undefined ? rows : rows.map((row) => row.map((v, i) => (v === null || oids[i] === undefined ? v : textToBinary(oids[i]!, v))))));
        }
      }
      if (done) {
        this.#write(P.commandComplete(tag ?? `SELECT ${sent}`));
        return true;
      }
      if (maxRows > 0 && sent >= maxRows) {
        this.#write(P.portalSuspended);
        return false;
      }
    }
  }

  async #closePortal(name: string): Promise<void> {
    const portal = this.#portals.get(name);
    if (!portal) return;
    this.#portals.delete(name);
    await portal.active?.close();
  }

  /** A held statement is announced at once with a NoticeResponse, so the agent knows whom it waits for. */
  #hooks(): OpenHooks {
    return {
      onHold: (_id, message) => {
        this.#write(P.noticeResponse({ severity: 'NOTICE', code: '01000', message }));
        this.#flush();
      },
    };
  }

  /**
   * At the token's expiry the session ends at once (its leases are revoked, a running statement is cancelled); the
   * connection stays until its next message, which is answered with a FATAL that says why, so the client learns it.
   */
  #watchExpiry(): void {
    if (!this.#notAfter) return;
    const ms = Math.min(Math.max(0, this.#notAfter.getTime() - Date.now()), 2 ** 31 - 1);
    this.#expiry = setTimeout(() => {
      if (Date.now() < this.#notAfter!.getTime()) return this.#watchExpiry();
      void this.#session?.close('token-expired');
    }, ms);
    this.#expiry.unref();
  }

  #expired(): void {
    void this.#session?.close('token-expired');
    // 28000 (invalid authorization): the client must authenticate again; drivers do not retry it as a network failure
    this.#fatal(
      '28000',
      `your token expired at ${this.#notAfter!.toISOString()}: Airlock ended this session and revoked its database credential; connect again with a fresh token`,
    );
  }

  #sendError(err: unknown): void {
    const e = classify(err);
    this.#write(P.errorResponse({ code: e.sqlState, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }));
  }

  #fatal(code: string, message: string): void {
    if (this.#phase === 'closed') return;
    this.#write(P.errorResponse({ severity: 'FATAL', code, message }));
    this.#flush();
    const socket = this.#socket;
    socket.end(() => socket.destroy());
    // a peer that never reads does not keep the socket either
    setTimeout(() => socket.destroy(), 1000).unref();
    void this.terminate('refused');
  }

  /** Ends a response: ReadyForQuery, and everything the response gathered leaves in one write. */
  #ready(): void {
    this.#write(P.readyForQuery(this.#session!.txStatus));
    this.#flush();
  }

  /**
   * Replies are gathered, as PostgreSQL gathers them, until the client waits for them: at ReadyForQuery, a Flush
   * message, a notice that must arrive at once, a FATAL, or a batch of rows large enough to send on its own. A small
   * result (ParseComplete, BindComplete, RowDescription, rows, CommandComplete, ReadyForQuery) is one socket write.
   */
  #write(b: Buffer): void {
    this.#pending.push(b);
    this.#pendingBytes += b.length;
  }

  /** Sends what was gathered; false when the socket's buffer is full (wait for 'drain'). */
  #flush(): boolean {
    const socket = this.#socket;
    const pending = this.#pending;
    if (pending.length === 0) return true;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (socket.destroyed || !socket.writable) return false;
    return socket.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
  }

  /** Gathers a batch of rows; once enough is gathered it is sent, waiting for the client to take it: memory stays bounded. */
  async #writeAndDrain(...parts: Buffer[]): Promise<void> {
    for (const b of parts) this.#write(b);
    if (this.#pendingBytes < FLUSH_BYTES || this.#flush()) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(new AirlockError('runtime.invalid_request', 'the client went away'));
      };
      const cleanup = () => {
        this.#socket.off('drain', onDrain);
        this.#socket.off('close', onClose);
      };
      this.#socket.on('drain', onDrain);
      this.#socket.on('close', onClose);
      if (this.#socket.destroyed) onClose();
    });
  }

  async cancel(): Promise<void> {
    await this.#session?.cancel();
  }

  async terminate(reason: string): Promise<void> {
    if (this.#phase === 'closed') return this.done;
    this.#phase = 'closed';
    clearTimeout(this.#expiry);
    clearTimeout(this.#authDeadline);
    if (this.#pid) this.#registry.unregister(this.#pid, this.#key);
    // as PostgreSQL says at its own shutdown (57P01): the client learns why, and that it may connect again
    if (reason === 'proxy-shutdown' && this.#session) {
      this.#write(P.errorResponse({ severity: 'FATAL', code: '57P01', message: 'Airlock is shutting down: this session ended and its database credential is revoked; connect again' }));
    }
    this.#flush();
    if (!this.#socket.destroyed) {
      const socket = this.#socket;
      socket.end();
      // a peer that never closes its side (one that stopped mid-login, or ignores the FATAL) keeps neither the socket
      // nor the listener's close, which waits for every socket: the auth deadline no longer runs to end it
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    try {
      await this.#session?.close(reason);
    } finally {
      this.#resolveDone();
    }
  }
}
