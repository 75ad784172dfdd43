import { gzipSync } from 'node:zlib';
/**
 * The emulator: the connector REST protocol on top, PostgreSQL underneath. Each statement runs on a pooled superuser
 * connection inside its own transaction with `SET LOCAL ROLE <backing role>`, so PostgreSQL enforces the grants.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Authenticator } from './auth.js';
import { STATEMENT_TYPE, parseCommand, statusResult, normalizePublicKey, type CommandHost, type ResultSet } from './commands.js';
import { SnowflakeError, fromPgError, sfErrors } from './errors.js';
import { obj, readBody, sendJson, snowflakeToken, str, type Json, type JsonObject } from './http-util.js';
import { column, encodeResult, markerKey, OID, type Cell, type PgField } from './result-encoding.js';
import { SessionRegistry, type Session } from './sessions.js';
import { quoteIdent } from './sql-tokens.js';
import { ACCOUNTADMIN, PUBLIC_ROLE, Store, defaultRolePrefix, type HistoryStatus } from './store.js';
import { COLUMN_MARKER_PREFIX, translate, type MarkedType } from './translate.js';
import type { Emulator, EmulatorLogger, EmulatorOptions } from './types.js';

interface RunningQuery {
  queryId: string;
  requestId: string | null;
  sessionId: string;
  user: string;
  pid: number | null;
  canceled: boolean;
  done: Promise<void>;
}

interface FinishedQuery {
  user: string;
  status: HistoryStatus;
  body: JsonObject;
  error: SnowflakeError | null;
}

interface Binding {
  type: string;
  value: Json | undefined;
}

/** Keep results of the most recent queries for `GET /queries/<id>/result`; older ones fall back to history. */
const RESULT_CACHE_SIZE = 500;
const RAW_TEXT = { getTypeParser: () => (v: string) => v };

const DEFAULT_PARAMETERS: Array<[string, string | number | boolean]> = [
  ['TIMEZONE', 'UTC'],
  ['DATE_OUTPUT_FORMAT', 'YYYY-MM-DD'],
  ['TIME_OUTPUT_FORMAT', 'HH24:MI:SS'],
  ['TIMESTAMP_OUTPUT_FORMAT', 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM'],
  ['TIMESTAMP_NTZ_OUTPUT_FORMAT', 'YYYY-MM-DD HH24:MI:SS.FF3'],
  ['TIMESTAMP_LTZ_OUTPUT_FORMAT', ''],
  ['TIMESTAMP_TZ_OUTPUT_FORMAT', ''],
  ['BINARY_OUTPUT_FORMAT', 'HEX'],
  ['CLIENT_SESSION_KEEP_ALIVE', false],
  ['CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY', 3600],
  ['CLIENT_RESULT_CHUNK_SIZE', 160],
  ['QUERY_CONTEXT_CACHE_SIZE', 5],
];

const noopLogger: EmulatorLogger = { info: () => undefined, warn: () => undefined };

function normalizeIdent(raw: string): string {
  return raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw.toUpperCase();
}

export class SnowflakeEmulator implements Emulator, CommandHost {
  url = '';
  readonly account: string;
  readonly store: Store;
  private readonly database: string;
  private readonly adminUser: string;
  private readonly log: EmulatorLogger;
  private readonly queryPool: pg.Pool;
  private readonly adminPool: pg.Pool;
  private readonly sessions: SessionRegistry;
  private readonly auth: Authenticator;
  private readonly running = new Map<string, RunningQuery>();
  private readonly finished = new Map<string, FinishedQuery>();
  private readonly resultWaitMs: number;
  /** result chunks waiting for the driver to download them, by id; each expires on its own */
  private readonly chunks = new Map<string, { key: string; body: Buffer }>();
  private server: Server | null = null;
  private closed = false;

  constructor(private readonly options: EmulatorOptions) {
    this.account = options.account;
    this.database = (options.database ?? 'DEMO').toUpperCase();
    this.adminUser = normalizeIdent(options.adminUser);
    this.log = options.logger ?? noopLogger;
    this.queryPool = new pg.Pool({ connectionString: options.databaseUrl, max: 20, idleTimeoutMillis: 10_000 });
    this.adminPool = new pg.Pool({ connectionString: options.databaseUrl, max: 4, idleTimeoutMillis: 10_000 });
    // Idle-client errors (e.g. the database dropped under us) must not crash the process.
    this.queryPool.on('error', (err) => this.log.warn({ err: err.message }, 'idle query connection failed'));
    this.adminPool.on('error', (err) => this.log.warn({ err: err.message }, 'idle admin connection failed'));
    this.store = new Store(this.adminPool, options.rolePrefix ?? defaultRolePrefix(options.databaseUrl));
    this.sessions = new SessionRegistry({
      sessionSeconds: options.sessionValiditySeconds ?? 3600,
      masterSeconds: options.masterValiditySeconds ?? 14400,
    });
    this.resultWaitMs = options.resultWaitMs ?? 45_000;
    this.auth = new Authenticator(
      this.store,
      options.account,
      this.adminUser,
      options.adminPassword ?? null,
      options.externalOAuth ?? null,
    );
  }

  async start(): Promise<void> {
    const adminKey = this.options.adminPublicKeyPem ? normalizePublicKey(this.options.adminPublicKeyPem) : null;
    await this.store.init(this.adminUser, adminKey);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // Last resort: answer in the protocol, never 5xx (the driver would retry for minutes).
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'request failed');
        if (!res.headersSent) sendJson(res, 200, failureBody(sfErrors.internal(), null));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.url = `http://${host}:${addr.port}`;
    this.log.info({ url: this.url, account: this.account, rolePrefix: this.store.rolePrefix }, 'snowflake emulator listening');
  }

  // ------------------------------------------------------------------ public API

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    for (const q of this.running.values()) await this.cancel(q);
    await Promise.race([
      Promise.allSettled([...this.running.values()].map((q) => q.done)),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
    this.sessions.clear();
    await this.queryPool.end();
    await this.adminPool.end();
  }

  async users(): Promise<Array<{ name: string; disabled: boolean; type: string; defaultRole: string | null }>> {
    return (await this.store.listUsers()).map((u) => ({ name: u.name, disabled: u.disabled, type: u.type, defaultRole: u.defaultRole }));
  }

  async queryHistory(): Promise<
    Array<{ queryId: string; user: string; role: string; queryTag: string | null; sqlText: string; status: HistoryStatus }>
  > {
    return (await this.store.history()).map((h) => ({
      queryId: h.queryId,
      user: h.user,
      role: h.role,
      queryTag: h.queryTag,
      sqlText: h.sqlText,
      status: h.status,
    }));
  }

  async activeSessions(): Promise<Array<{ sessionId: string; user: string; role: string }>> {
    return this.sessions.list().map((s) => ({ sessionId: s.id, user: s.user, role: s.role }));
  }

  async dropBackingRoles(): Promise<void> {
    // Works after close(): it opens its own connection.
    const client = new pg.Client({ connectionString: this.options.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname',
        [this.store.rolePrefix],
      );
      for (const r of rows) {
        const ident = quoteIdent(r.rolname);
        await client.query(`DROP OWNED BY ${ident}`);
        await client.query(`DROP ROLE ${ident}`);
      }
    } finally {
      await client.end();
    }
  }

  // ------------------------------------------------------------------ CommandHost

  async adminQuery(sql: string, values: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    const { rows } = await this.adminPool.query(sql, values);
    return rows as Array<Record<string, unknown>>;
  }

  endUserSessions(user: string): void {
    const n = this.sessions.endUser(user);
    if (n > 0) this.log.info({ user, sessions: n }, 'sessions ended');
  }

  async abortUserQueries(user: string, exceptQueryId: string): Promise<number> {
    const victims = [...this.running.values()].filter((q) => q.user === user && q.queryId !== exceptQueryId);
    for (const q of victims) await this.cancel(q);
    if (victims.length > 0) this.log.info({ user, queries: victims.length }, 'queries aborted');
    return victims.length;
  }

  sessionUser(sessionId: string): string | undefined {
    return this.sessions.byId(sessionId)?.user;
  }

  async cancelSessionQueries(sessionId: string, exceptQueryId: string): Promise<number> {
    const victims = [...this.running.values()].filter((q) => q.sessionId === sessionId && q.queryId !== exceptQueryId);
    for (const q of victims) await this.cancel(q);
    return victims.length;
  }

  abortSession(sessionId: string): void {
    const s = this.sessions.endById(sessionId);
    if (s) this.log.info({ sessionId, user: s.user }, 'session aborted');
  }

  // ------------------------------------------------------------------ HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const body = method === 'POST' ? await readBody(req) : {};
    const reply = (payload: unknown): void => sendJson(res, 200, payload);
    try {
      if (method === 'POST' && path === '/session/v1/login-request') return reply(await this.login(body, url.searchParams));
      if (method === 'POST' && path === '/session/token-request') return reply(this.renew(snowflakeToken(req)));
      if (method === 'POST' && path === '/session/heartbeat') {
        this.sessions.resolve(snowflakeToken(req));
        return reply({ success: true, code: null, message: null, data: null });
      }
      if (method === 'POST' && path === '/session') {
        if (url.searchParams.get('delete') === 'true') {
          const session = this.sessions.resolve(snowflakeToken(req));
          this.sessions.close(session);
          this.log.info({ sessionId: session.id, user: session.user }, 'session closed');
        }
        return reply({ success: true, code: null, message: null, data: null });
      }
      if (method === 'POST' && path === '/telemetry/send') return reply({ success: true, code: null, message: null, data: null });
      if (method === 'POST' && path === '/queries/v1/query-request') {
        const session = this.sessions.resolve(snowflakeToken(req));
        return reply(await this.queryRequest(session, body, url.searchParams.get('requestId')));
      }
      if (method === 'POST' && path === '/queries/v1/abort-request') {
        const session = this.sessions.resolve(snowflakeToken(req));
        const requestId = str(body.requestId);
        const q = [...this.running.values()].find((r) => r.requestId !== null && r.requestId === requestId && r.sessionId === session.id);
        return reply(await this.abortReply(q));
      }
      let m = /^\/queries\/([0-9a-fA-F-]{36})\/abort-request$/.exec(path);
      if (method === 'POST' && m) {
        const session = this.sessions.resolve(snowflakeToken(req));
        const q = this.running.get(m[1].toLowerCase());
        return reply(await this.abortReply(q && (q.user === session.user || session.role === ACCOUNTADMIN) ? q : undefined));
      }
      m = /^\/queries\/([0-9a-fA-F-]{36})\/result$/.exec(path);
      if (method === 'GET' && m) {
        const session = this.sessions.resolve(snowflakeToken(req));
        return reply(await this.resultOf(session, m[1].toLowerCase()));
      }
      m = /^\/chunks\/([0-9a-f-]{36})$/.exec(path);
      if (method === 'GET' && m) return this.sendChunk(m[1], req, res);
      m = /^\/monitoring\/queries\/([0-9a-fA-F-]{36})$/.exec(path);
      if (method === 'GET' && m) {
        const session = this.sessions.resolve(snowflakeToken(req));
        return reply(await this.monitoring(session, m[1].toLowerCase()));
      }
      sendJson(res, 404, { success: false, code: '390400', message: `Unknown endpoint ${method} ${path}`, data: null });
    } catch (err) {
      const e = err instanceof SnowflakeError ? err : null;
      if (!e) this.log.warn({ err: err instanceof Error ? err.message : String(err), path }, 'request failed');
      reply(failureBody(e ?? sfErrors.internal(), null));
    }
  }

  /**
   * A large result as Snowflake serves it: the first rows inline, the rest as gzip'd chunks of bracket-less JSON rows
   * that the driver downloads from absolute URLs with `chunkHeaders` (and without the session token).
   */
  private chunked(body: JsonObject): JsonObject {
    const data = body.data as JsonObject;
    const rowset = data.rowset as Json[];
    const inline = this.options.inlineRows ?? 1000;
    if (rowset.length <= inline) return body;
    const size = Math.max(1, this.options.chunkRows ?? 100_000);
    const key = randomUUID();
    const chunks: Json[] = [];
    for (let from = inline; from < rowset.length; from += size) {
      const rows = rowset.slice(from, from + size);
      const text = Buffer.from(rows.map((r) => JSON.stringify(r)).join(','), 'utf8');
      const gz = gzipSync(text, { level: 1 });
      const id = randomUUID();
      this.chunks.set(id, { key, body: gz });
      setTimeout(() => this.chunks.delete(id), 10 * 60_000).unref();
      chunks.push({ url: `${this.url}/chunks/${id}`, rowCount: rows.length, uncompressedSize: text.length, compressedSize: gz.length });
    }
    return { ...body, data: { ...data, rowset: rowset.slice(0, inline), chunks, chunkHeaders: { 'x-sfemu-chunk-key': key } } };
  }

  private sendChunk(id: string, req: IncomingMessage, res: ServerResponse): void {
    const chunk = this.chunks.get(id);
    if (!chunk || req.headers['x-sfemu-chunk-key'] !== chunk.key) {
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': chunk.body.length });
    res.end(chunk.body);
  }

  // ------------------------------------------------------------------ login and session endpoints

  private async login(body: JsonObject, params: URLSearchParams): Promise<JsonObject> {
    const data = obj(body.data) ?? {};
    const authenticator = (str(data.AUTHENTICATOR) ?? 'SNOWFLAKE').toUpperCase();
    const accountName = str(data.ACCOUNT_NAME);
    try {
      if (accountName !== null && accountName.toUpperCase() !== this.account.toUpperCase()) {
        throw authenticator === 'OAUTH' ? sfErrors.oauthInvalid() : authenticator === 'SNOWFLAKE_JWT' ? sfErrors.jwtInvalid() : sfErrors.badUserPassword();
      }
      const { user, tokenRole } = await this.auth.authenticate({
        authenticator,
        accountName,
        loginName: str(data.LOGIN_NAME),
        password: str(data.PASSWORD),
        token: str(data.TOKEN),
      });
      if (user.disabled) throw sfErrors.userDisabled();
      if (user.expiresAt && user.expiresAt.getTime() <= Date.now()) throw sfErrors.userExpired();
      const granted = await this.store.userRoles(user.name);
      const roleParam = params.get('roleName');
      const requested = tokenRole ?? (roleParam ? normalizeIdent(roleParam) : null);
      let role: string;
      if (requested) {
        if (!granted.includes(requested)) throw sfErrors.roleNotGranted(requested);
        role = requested;
      } else {
        role = user.defaultRole && granted.includes(user.defaultRole) ? user.defaultRole : PUBLIC_ROLE;
      }
      const sessionParams = obj(data.SESSION_PARAMETERS) ?? {};
      const paramMap = new Map<string, string>();
      for (const [k, v] of Object.entries(sessionParams)) {
        if (k.toUpperCase() === 'QUERY_TAG' && typeof v === 'string') paramMap.set('QUERY_TAG', v);
        if (k.toUpperCase() === 'TIMEZONE' && typeof v === 'string') paramMap.set('TIMEZONE', v);
      }
      const session = this.sessions.create(
        {
          user: user.name,
          role,
          database: params.get('databaseName') ? normalizeIdent(params.get('databaseName') ?? '') : this.database,
          schema: params.get('schemaName') ? normalizeIdent(params.get('schemaName') ?? '') : 'PUBLIC',
          warehouse: params.get('warehouse') ? normalizeIdent(params.get('warehouse') ?? '') : (user.defaultWarehouse ?? 'COMPUTE_WH'),
          params: paramMap,
        },
        user.queryTag,
      );
      this.log.info({ sessionId: session.id, user: user.name, role, authenticator }, 'login');
      return {
        success: true,
        code: null,
        message: null,
        data: {
          token: session.token,
          masterToken: session.masterToken,
          validityInSeconds: Math.round((session.tokenExpiresAt - Date.now()) / 1000),
          masterValidityInSeconds: Math.round((session.masterExpiresAt - Date.now()) / 1000),
          displayUserName: user.displayName ?? user.name,
          serverVersion: '9.0.0-sfemu',
          firstLogin: false,
          remMeToken: null,
          remMeValidityInSeconds: 0,
          healthCheckInterval: 45,
          newClientForUpgrade: null,
          sessionId: Number(session.id),
          parameters: this.parameters(session),
          sessionInfo: {
            databaseName: session.database,
            schemaName: session.schema,
            warehouseName: session.warehouse,
            roleName: session.role,
          },
          idToken: null,
          idTokenValidityInSeconds: 0,
          responseData: null,
          mfaToken: null,
          mfaTokenValidityInSeconds: 0,
        },
      };
    } catch (err) {
      const e = err instanceof SnowflakeError ? err : sfErrors.internal();
      if (!(err instanceof SnowflakeError)) this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'login failed unexpectedly');
      this.log.info({ authenticator, code: e.code }, 'login refused');
      return { success: false, code: e.code, message: e.message, data: { ...(e.data as JsonObject) }, headers: null };
    }
  }

  private renew(masterToken: string | null): JsonObject {
    const session = this.sessions.renew(masterToken);
    return {
      success: true,
      code: null,
      message: null,
      data: {
        sessionToken: session.token,
        validityInSecondsST: Math.round((session.tokenExpiresAt - Date.now()) / 1000),
        masterToken: session.masterToken,
        validityInSecondsMT: Math.round((session.masterExpiresAt - Date.now()) / 1000),
        sessionId: Number(session.id),
      },
    };
  }

  private parameters(session: Session): Array<{ name: string; value: string | number | boolean }> {
    return DEFAULT_PARAMETERS.map(([name, value]) => ({ name, value: session.params.get(name) ?? value }));
  }

  // ------------------------------------------------------------------ queries

  private async queryRequest(session: Session, body: JsonObject, requestId: string | null): Promise<JsonObject> {
    const sqlText = str(body.sqlText);
    if (sqlText === null || sqlText.trim() === '') {
      return failureBody(sfErrors.syntax('Empty SQL statement.'), randomUUID());
    }
    const stmtParams = obj(body.parameters) ?? {};
    const tagParam = Object.entries(stmtParams).find(([k]) => k.toUpperCase() === 'QUERY_TAG')?.[1];
    const queryTag = typeof tagParam === 'string' ? tagParam : session.params.get('QUERY_TAG') ?? session.userQueryTag;
    const bindings = parseBindings(obj(body.bindings));
    const q = await this.startQuery(session, sqlText, bindings, queryTag, requestId);
    if (body.asyncExec === true) {
      return {
        success: true,
        code: '333334',
        message: 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.',
        data: { queryId: q.queryId, getResultUrl: `/queries/${q.queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
      };
    }
    return this.waitForResult(q.queryId, this.resultWaitMs);
  }

  /** The result if the query ends within `waitMs`, else Snowflake's "in progress" answer that makes the driver poll. */
  private async waitForResult(queryId: string, waitMs: number): Promise<JsonObject> {
    const q = this.running.get(queryId);
    if (q) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([q.done, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
    const done = this.finished.get(queryId);
    if (done) return done.body;
    if (this.running.has(queryId)) {
      return {
        success: true,
        code: '333333',
        message: 'Query execution in progress. Use provided query id to perform query monitoring and management.',
        data: { queryId, getResultUrl: `/queries/${queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
      };
    }
    return failureBody(sfErrors.queryNotFound(queryId), queryId);
  }

  private async resultOf(session: Session, queryId: string): Promise<JsonObject> {
    const owner = this.running.get(queryId)?.user ?? this.finished.get(queryId)?.user;
    if (!owner || (owner !== session.user && session.role !== ACCOUNTADMIN)) {
      return failureBody(sfErrors.queryNotFound(queryId), queryId);
    }
    return this.waitForResult(queryId, this.resultWaitMs);
  }

  private async monitoring(session: Session, queryId: string): Promise<JsonObject> {
    const h = await this.store.historyOne(queryId);
    if (!h || (h.user !== session.user && session.role !== ACCOUNTADMIN)) {
      return { success: true, code: null, message: null, data: { queries: [] } };
    }
    const status = h.status === 'FAILED' ? 'FAILED_WITH_ERROR' : h.status;
    const failed = h.status === 'FAILED' || h.status === 'ABORTED';
    const sqlState = failed ? this.finished.get(queryId)?.error?.sqlState ?? null : null;
    return {
      success: true,
      code: failed ? h.errorCode : null,
      message: null,
      data: {
        queries: [
          {
            id: h.queryId,
            status,
            state: status,
            sqlText: h.sqlText,
            startTime: h.startTime.getTime(),
            endTime: h.endTime ? h.endTime.getTime() : 0,
            totalDuration: h.endTime ? h.endTime.getTime() - h.startTime.getTime() : Date.now() - h.startTime.getTime(),
            errorCode: h.errorCode,
            errorMessage: h.errorMessage,
            sessionId: Number(h.sessionId),
            queryTag: h.queryTag ?? '',
          },
        ],
        sqlState,
      },
    };
  }

  private async abortReply(q: RunningQuery | undefined): Promise<JsonObject> {
    if (!q) {
      const e = sfErrors.notExecuting();
      return { success: false, code: '', message: e.message, data: { errorCode: e.code, sqlState: e.sqlState }, headers: null };
    }
    await this.cancel(q);
    return { success: true, code: null, message: null, data: null };
  }

  private async cancel(q: RunningQuery): Promise<void> {
    q.canceled = true;
    if (q.pid !== null) {
      try {
        await this.adminPool.query('SELECT pg_cancel_backend($1)', [q.pid]);
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err), queryId: q.queryId }, 'cancel failed');
      }
    }
  }

  private async startQuery(
    session: Session,
    sqlText: string,
    bindings: Map<number, Binding>,
    queryTag: string | null,
    requestId: string | null,
  ): Promise<RunningQuery> {
    const queryId = randomUUID();
    const role = session.role;
    await this.store.historyStart({ queryId, sessionId: session.id, user: session.user, role, queryTag, sqlText });
    const q: RunningQuery = { queryId, requestId, sessionId: session.id, user: session.user, pid: null, canceled: false, done: Promise.resolve() };
    this.running.set(queryId, q);
    q.done = (async () => {
      let body: JsonObject;
      let status: HistoryStatus;
      let error: SnowflakeError | null = null;
      try {
        const rs = await this.execute(session, sqlText, bindings, q);
        body = this.chunked(successBody(rs, queryId, session, this.parameters(session)));
        status = 'SUCCESS';
      } catch (err) {
        error = q.canceled ? sfErrors.canceled() : fromPgError(err);
        if (!(err instanceof SnowflakeError) && !(typeof (err as { code?: unknown }).code === 'string')) {
          this.log.warn({ err: err instanceof Error ? err.message : String(err), queryId }, 'statement failed unexpectedly');
        }
        body = failureBody(error, queryId);
        status = error.code === '000604' ? 'ABORTED' : 'FAILED';
      }
      this.finished.set(queryId, { user: session.user, status, body, error });
      if (this.finished.size > RESULT_CACHE_SIZE) {
        const oldest = this.finished.keys().next().value;
        if (oldest !== undefined) this.finished.delete(oldest);
      }
      this.running.delete(queryId);
      try {
        await this.store.historyEnd(queryId, status, role, error ? { code: error.code, message: error.message } : null);
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err), queryId }, 'history update failed');
      }
    })();
    return q;
  }

  private async execute(session: Session, sqlText: string, bindings: Map<number, Binding>, q: RunningQuery): Promise<ResultSet> {
    const granted = await this.store.userRoles(session.user);
    if (!granted.includes(session.role)) throw sfErrors.roleNotAssigned(session.role);
    const command = parseCommand(sqlText);
    if (command) {
      if (q.canceled) throw sfErrors.canceled();
      return command(this, session, q.queryId);
    }
    const t = translate(sqlText, { database: this.database });
    if (t.kind === 'tcl') {
      // Every statement commits on its own (autocommit); explicit transactions are accepted and have no effect.
      return statusResult('Statement executed successfully.', STATEMENT_TYPE.tcl);
    }
    const roleRec = await this.store.getRole(session.role);
    if (!roleRec) throw sfErrors.roleDoesNotExist(session.role);
    const valueRows = bindValues(bindings, t.paramCount);
    const client = await this.queryPool.connect();
    // pg sets processID from BackendKeyData; @types/pg does not declare it.
    q.pid = (client as pg.PoolClient & { processID?: number }).processID ?? null;
    let broken = false;
    try {
      if (q.canceled) throw sfErrors.canceled();
      await client.query('BEGIN');
      await client.query(
        `SELECT set_config('TimeZone', $1, true), set_config('DateStyle', 'ISO, YMD', true), set_config('IntervalStyle', 'iso_8601', true),
                set_config('sfemu.role', $2, true), set_config('sfemu.user', $3, true), set_config('sfemu.database', $4, true),
                set_config('sfemu.schema', $5, true), set_config('sfemu.warehouse', $6, true), set_config('sfemu.account', $7, true),
                set_config('sfemu.session', $8, true)`,
        [session.params.get('TIMEZONE') ?? 'UTC', session.role, session.user, session.database, session.schema, session.warehouse, this.account.toUpperCase(), session.id],
      );
      if (roleRec.pgRole) await client.query(`SET LOCAL ROLE ${quoteIdent(roleRec.pgRole)}`);
      for (const sql of t.before) await client.query(sql);
      let result: pg.QueryArrayResult | null = null;
      let rowCount = 0;
      let text = t.text;
      for (const values of valueRows) {
        if (q.canceled) throw sfErrors.canceled();
        ({ result, text } = await runWithTypedParams(client, text, values, bindings));
        rowCount += result.rowCount ?? 0;
      }
      if (q.canceled) throw sfErrors.canceled();
      for (const sql of t.after) await client.query(sql);
      const fields = (result?.fields ?? []) as PgField[];
      const markers = await this.columnMarkers(client, fields);
      await client.query('COMMIT');
      return this.shape(t.kind, t.status, fields, (result?.rows ?? []) as Cell[][], rowCount, markers, session);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      q.pid = null;
      client.release(broken);
    }
  }

  /** TIMESTAMP_TZ / OBJECT / ARRAY table columns are recorded as column comments at CREATE TABLE time. */
  private async columnMarkers(client: pg.PoolClient, fields: PgField[]): Promise<Map<string, MarkedType>> {
    const markers = new Map<string, MarkedType>();
    const tables = [
      ...new Set(
        fields
          .filter((f) => f.tableID && (f.dataTypeID === OID.timestamptz || f.dataTypeID === OID.jsonb || f.dataTypeID === OID.json))
          .map((f) => f.tableID),
      ),
    ];
    if (tables.length === 0) return markers;
    const { rows } = await client.query<{ objoid: number; objsubid: number; description: string }>(
      `SELECT objoid::int AS objoid, objsubid, description FROM pg_description
        WHERE classoid = 'pg_class'::regclass AND objoid = ANY($1::oid[]) AND starts_with(description, $2)`,
      [tables, COLUMN_MARKER_PREFIX],
    );
    for (const r of rows) markers.set(markerKey(r.objoid, r.objsubid), r.description.slice(COLUMN_MARKER_PREFIX.length) as MarkedType);
    return markers;
  }

  private shape(
    kind: string,
    status: string,
    fields: PgField[],
    rows: Cell[][],
    rowCount: number,
    markers: Map<string, MarkedType>,
    session: Session,
  ): ResultSet {
    const n = String(rowCount);
    switch (kind) {
      case 'insert':
        return { statementTypeId: STATEMENT_TYPE.insert, rowtype: [column('number of rows inserted', 'fixed')], rowset: [[n]] };
      case 'update':
        return {
          statementTypeId: STATEMENT_TYPE.update,
          rowtype: [column('number of rows updated', 'fixed'), column('number of multi-joined rows updated', 'fixed')],
          rowset: [[n, '0']],
        };
      case 'delete':
        return { statementTypeId: STATEMENT_TYPE.delete, rowtype: [column('number of rows deleted', 'fixed')], rowset: [[n]] };
      case 'merge':
        // PostgreSQL reports one count for MERGE; it is reported as updated rows.
        return {
          statementTypeId: STATEMENT_TYPE.merge,
          rowtype: ['number of rows inserted', 'number of rows updated', 'number of rows deleted'].map((c) => column(c, 'fixed')),
          rowset: [['0', n, '0']],
        };
      case 'ddl':
        return statusResult(status, STATEMENT_TYPE.ddl);
      default:
        if (fields.length === 0) return statusResult('Statement executed successfully.', STATEMENT_TYPE.scl);
        return {
          statementTypeId: STATEMENT_TYPE.select,
          ...encodeResult(fields, rows, { database: session.database, schema: session.schema, markers }),
        };
    }
  }
}

function successBody(rs: ResultSet, queryId: string, session: Session, parameters: Array<{ name: string; value: string | number | boolean }>): JsonObject {
  return {
    success: true,
    code: null,
    message: null,
    data: {
      queryId,
      queryResultFormat: 'json',
      statementTypeId: rs.statementTypeId,
      version: 1,
      parameters: parameters as unknown as Json,
      rowtype: rs.rowtype as unknown as Json,
      rowset: rs.rowset,
      total: rs.rowset.length,
      returned: rs.rowset.length,
      finalDatabaseName: session.database,
      finalSchemaName: session.schema,
      finalWarehouseName: session.warehouse,
      finalRoleName: session.role,
    },
  };
}

function failureBody(e: SnowflakeError, queryId: string | null): JsonObject {
  return {
    success: false,
    code: e.code,
    message: e.message,
    data: {
      internalError: false,
      errorCode: e.code,
      age: 0,
      sqlState: e.sqlState,
      queryId,
      line: -1,
      pos: -1,
      type: 'COMPILATION',
      ...(e.data as JsonObject),
    },
    headers: null,
  };
}

function parseBindings(raw: JsonObject | null): Map<number, Binding> {
  const out = new Map<number, Binding>();
  if (!raw) return out;
  for (const [k, v] of Object.entries(raw)) {
    const b = obj(v);
    const idx = Number(k);
    if (!b || !Number.isInteger(idx) || idx < 1) {
      throw sfErrors.unsupported(`Named binding '${k}' is not supported by the emulator; use ? or :n placeholders.`);
    }
    out.set(idx, { type: (str(b.type) ?? 'TEXT').toUpperCase(), value: b.value });
  }
  return out;
}

/** Convert one bound value from the connector's string form to what PostgreSQL parses for the same type. */
function bindValue(type: string, v: Json | undefined): string | null {
  if (v === null || v === undefined) return null;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  const digits = /^-?\d+$/.test(s);
  switch (type) {
    case 'BOOLEAN':
      return ['1', 'TRUE', 'T', 'YES', 'Y', 'ON'].includes(s.toUpperCase()) ? 'true' : 'false';
    case 'DATE':
      // Python sends milliseconds since the epoch.
      return digits ? new Date(Number(s)).toISOString().slice(0, 10) : s;
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ':
    case 'TIMESTAMP': {
      // Python sends nanoseconds since the epoch (TZ: "<nanos> <offset+1440>").
      const m = /^(-?\d+)(?: (\d+))?$/.exec(s);
      if (!m) return s;
      const iso = new Date(Number(BigInt(m[1]) / 1_000_000n)).toISOString().replace('Z', '');
      const micros = (BigInt(m[1]) % 1_000_000_000n).toString().padStart(9, '0').slice(0, 6);
      return `${iso.slice(0, 19)}.${micros}${type === 'TIMESTAMP_NTZ' ? '' : '+00'}`;
    }
    case 'BINARY':
      return `\\x${s}`;
    default:
      return s;
  }
}

/** One row of values, or several for an array binding (the statement runs once per row). */
function bindValues(bindings: Map<number, Binding>, paramCount: number): Array<Array<string | null>> {
  if (paramCount === 0) return [[]];
  const cols: Binding[] = [];
  for (let i = 1; i <= paramCount; i++) {
    const b = bindings.get(i);
    if (!b) throw new SnowflakeError('002049', `SQL compilation error: error line 1 at position 0\nBind variable :${i} not set.`, '42601');
    cols.push(b);
  }
  const arrays = cols.filter((b) => Array.isArray(b.value));
  if (arrays.length === 0) return [cols.map((b) => bindValue(b.type, b.value))];
  const n = (arrays[0].value as Json[]).length;
  const rows: Array<Array<string | null>> = [];
  for (let r = 0; r < n; r++) {
    rows.push(cols.map((b) => bindValue(b.type, Array.isArray(b.value) ? b.value[r] : b.value)));
  }
  return rows;
}

/** PostgreSQL type for a parameter whose type PostgreSQL cannot infer (e.g. `SELECT ? AS x`), from the bind type. */
const BIND_PG_TYPES: Record<string, string> = {
  FIXED: 'numeric',
  REAL: 'float8',
  BOOLEAN: 'boolean',
  TEXT: 'text',
  VARIANT: 'jsonb',
  OBJECT: 'jsonb',
  ARRAY: 'jsonb',
  DATE: 'date',
  TIME: 'time',
  TIMESTAMP_NTZ: 'timestamp',
  TIMESTAMP_LTZ: 'timestamptz',
  TIMESTAMP_TZ: 'timestamptz',
  BINARY: 'bytea',
};

/**
 * Run a parameterised statement. Snowflake types every binding, PostgreSQL infers parameter types from context; where
 * it cannot (42P18), cast that parameter to the binding's type and retry inside a savepoint. Returns the text that
 * worked so that array bindings reuse it.
 */
async function runWithTypedParams(
  client: pg.PoolClient,
  text: string,
  values: Array<string | null>,
  bindings: Map<number, Binding>,
): Promise<{ result: pg.QueryArrayResult; text: string }> {
  if (values.length === 0) return { result: await client.query({ text, rowMode: 'array', types: RAW_TEXT }), text };
  for (let attempt = 0; ; attempt++) {
    await client.query('SAVEPOINT sfemu_bind');
    try {
      const result = await client.query({ text, values, rowMode: 'array', types: RAW_TEXT });
      await client.query('RELEASE SAVEPOINT sfemu_bind');
      return { result, text };
    } catch (err) {
      const m = /parameter \$(\d+)/.exec(err instanceof Error ? err.message : '');
      if ((err as { code?: string }).code !== '42P18' || !m || attempt > values.length) throw err;
      await client.query('ROLLBACK TO SAVEPOINT sfemu_bind');
      const n = Number(m[1]);
      const pgType = BIND_PG_TYPES[bindings.get(n)?.type ?? 'TEXT'] ?? 'text';
      text = text.replace(new RegExp(`\\$${n}(?![0-9])(?!::)`, 'g'), `$${n}::${pgType}`);
    }
  }
}
