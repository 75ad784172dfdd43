import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';
import type { FrontDoor } from '../http/server.js';
import { bindingsToParams } from './bindings.js';
import { acceptSnowflakeBodies } from './body.js';
import { failure, failures, snowflakeCodes, toSnowflakeFailure, type SnowflakeFailure } from './errors.js';
import { LoginSessions, bearerToken, snowflakeToken, type LoginSession } from './login-sessions.js';
import {
  defaultParameters,
  failureBody,
  inProgressBody,
  loginBody,
  loginFailureBody,
  monitoringBody,
  okBody,
  renewBody,
  type SessionInfo,
} from './responses.js';
import { connectorResult, resultBody } from './result-stream.js';
import {
  AbortRequest,
  LoginQuery,
  LoginRequest,
  QueryIdParams,
  QueryRequest,
  RequestIdQuery,
  TokenRequest,
} from './schemas.js';
import { SQL_API_PATH, registerSqlApi, sqlApiFailure, sqlApiStatus, type SqlApiHost } from './sql-api.js';
import { StatementRun, type Mutex, type StatementSession } from './statement-run.js';

export interface SnowflakeFrontDoorOptions {
  /** how long a request waits for a statement before answering "in progress" and letting the client poll (40 s) */
  resultWaitMs?: number;
  /** validity of Airlock's session token; the driver renews it with the master token (3600 s) */
  sessionValiditySeconds?: number;
  /** validity of the master token: the longest a login lasts (14400 s) */
  masterValiditySeconds?: number;
  /** a login with no request for this long is closed and its leases revoked (1800 s) */
  idleTimeoutSeconds?: number;
  /** how long a finished statement's status, or an unfetched result, is kept for polling (300 s) */
  resultRetentionSeconds?: number;
  /** rows read from the upstream per batch (1000) */
  batchRows?: number;
  /** how often idle logins and stale results are swept (5000 ms) */
  sweepIntervalMs?: number;
  /**
   * how long a statement held for approval waits for the decision (a Snowflake client just keeps polling); by
   * default as long as an approval request can stay pending (approval.ttlSeconds) plus a minute
   */
  approvalHoldMs?: number;
}

export interface Settings {
  resultWaitMs: number;
  holdMs: number;
  retentionMs: number;
  batchRows: number;
}

/** Who may see a statement: the login session that sent it, or (SQL API) the principal. */
export interface RunEntry {
  run: StatementRun;
  owner: string;
}

export const loginOwner = (login: LoginSession): string => `session:${login.session.id}`;

const LOGIN_PATH = '/session/v1/login-request';

/** A 200 JSON answer: the only status the connector protocol uses here (the driver retries 5xx for minutes). */
function answer(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.code(200).type('application/json').send(body);
}

/**
 * The Snowflake front door: the connector REST protocol that unmodified drivers speak (login, query, polling,
 * session close, heartbeat, token renewal, abort) and the SQL API v2. Every login opens one proxy Session on the
 * Snowflake connection named by the account; statements go through the same lifecycle as on every front door.
 */
export class SnowflakeFrontDoor implements SqlApiHost {
  readonly #door: FrontDoor;
  readonly #settings: Settings;
  readonly #logins: LoginSessions;
  readonly #runs = new Map<string, RunEntry>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;
  /** the SQL API's bearer token, verified once per request: before its body is read, and for its handler */
  readonly #bearers = new WeakMap<object, Promise<Principal>>();

  constructor(door: FrontDoor, options: SnowflakeFrontDoorOptions = {}) {
    this.#door = door;
    this.#settings = {
      resultWaitMs: options.resultWaitMs ?? 40_000,
      holdMs: options.approvalHoldMs ?? door.snowflake.approvalHoldMs,
      retentionMs: (options.resultRetentionSeconds ?? 300) * 1000,
      batchRows: options.batchRows ?? 1000,
    };
    this.#logins = new LoginSessions({
      tokenSeconds: options.sessionValiditySeconds ?? 3600,
      masterSeconds: options.masterValiditySeconds ?? 14400,
      idleSeconds: options.idleTimeoutSeconds ?? 1800,
    });
    this.#sweeper = setInterval(() => void this.#sweep(), options.sweepIntervalMs ?? 5000);
    this.#sweeper.unref();
  }

  get settings(): Settings {
    return this.#settings;
  }

  get door(): FrontDoor {
    return this.#door;
  }

  /** The Snowflake connection an account name designates (case-insensitive), if the config has one. */
  connectionFor(account: string | undefined): string | undefined {
    if (!account) return undefined;
    const wanted = account.toLowerCase();
    return this.#door.snowflake.connections.find((c) => c.name.toLowerCase() === wanted)?.name;
  }

  sessionInfoFor(connection: string, query: LoginQuery | undefined): SessionInfo {
    const sf = this.#door.snowflake.connections.find((c) => c.name === connection);
    return {
      databaseName: query?.databaseName ?? sf?.database ?? null,
      schemaName: query?.schemaName ?? sf?.schema ?? null,
      warehouseName: query?.warehouse ?? sf?.warehouse ?? null,
      roleName: query?.roleName ?? null,
    };
  }

  /** Starts a statement in the background and records it for polling. */
  start(owner: string, session: StatementSession, lock: Mutex, sql: string, params: Array<string | null>, clientRequestId: string | null, onEnd?: (run: StatementRun) => void): StatementRun {
    const run = new StatementRun({ session, lock, sql, params, batchRows: this.#settings.batchRows, holdMs: this.#settings.holdMs, clientRequestId, ...(onEnd ? { onEnd } : {}) });
    this.#runs.set(run.queryId, { run, owner });
    return run;
  }

  /** The principal of a SQL API request's bearer token, verified once however often it is asked. */
  bearerPrincipal(request: FastifyRequest): Promise<Principal> {
    let principal = this.#bearers.get(request.raw);
    if (!principal) {
      const token = bearerToken(request.headers.authorization);
      principal = token
        ? this.#door.gateway.authenticate(token, 'snowflake')
        : Promise.reject(new AirlockError('identity.missing_token', 'send your OIDC token as Authorization: Bearer <token>'));
      principal.catch(() => undefined);
      this.#bearers.set(request.raw, principal);
    }
    return principal;
  }

  /** Whether a request comes from an authenticated sender, so that its body may be as large as `maxBodyBytes`. */
  async #authenticatedSender(request: FastifyRequest): Promise<boolean> {
    const path = request.url.split('?')[0]!;
    if (path === LOGIN_PATH) return false;
    if (path.startsWith(SQL_API_PATH)) return this.bearerPrincipal(request).then(() => true, () => false);
    return !('code' in this.#logins.resolve(snowflakeToken(request.headers.authorization)));
  }

  find(queryId: string, owner: string): StatementRun | undefined {
    const entry = this.#runs.get(queryId.toLowerCase());
    return entry && entry.owner === owner ? entry.run : undefined;
  }

  runsOf(owner: string): StatementRun[] {
    return [...this.#runs.values()].filter((e) => e.owner === owner).map((e) => e.run);
  }

  async #sweep(): Promise<void> {
    const now = Date.now();
    for (const [id, { run }] of this.#runs) {
      if (await run.expireIfStale(now, this.#settings.retentionMs)) continue;
      if (run.endedAt !== null && now - run.endedAt > this.#settings.retentionMs) this.#runs.delete(id);
    }
    for (const login of this.#logins.takeExpired()) await this.#endLogin(login, 'token-expired', { keep: true });
    for (const login of this.#logins.takeIdle()) await this.#endLogin(login, 'idle-timeout');
  }

  /** `keep`: the login stays known (expired), so the driver is told why instead of "unknown session" */
  async #endLogin(login: LoginSession, reason: string, options: { keep?: boolean } = {}): Promise<void> {
    if (!options.keep) this.#logins.remove(login);
    const owner = loginOwner(login);
    for (const run of this.runsOf(owner)) await run.cancel();
    try {
      await login.session.close(reason);
    } catch (err) {
      this.#door.logger.warn({ sessionId: login.session.id, err: err instanceof Error ? err.message : String(err) }, 'closing a Snowflake session failed');
    }
    this.#door.logger.info({ sessionId: login.session.id, connection: login.connection, reason }, 'Snowflake session closed');
  }

  /** Ends every login (revoking its leases) and every SQL API statement. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    for (const login of this.#logins.takeAll()) await this.#endLogin(login, 'proxy-shutdown');
    await Promise.all([...this.#runs.values()].map(({ run }) => run.cancel()));
  }

  /** Answers a statement's current state: its streamed result, its failure, or "in progress". */
  async respond(reply: FastifyReply, run: StatementRun, info: SessionInfo): Promise<FastifyReply> {
    const taken = run.take();
    if (taken === null) return answer(reply, inProgressBody(run.queryId, { async: false, message: run.hold?.message }));
    if ('failure' in taken) return answer(reply, failureBody(taken.failure, run.queryId));
    const stream = connectorResult(taken.source, { queryId: run.queryId, parameters: defaultParameters, sessionInfo: info, batchRows: this.#settings.batchRows }, taken.end);
    return reply.code(200).type('application/json').send(await resultBody(taken.source, stream));
  }

  async register(app: FastifyInstance): Promise<void> {
    await app.register(async (scope) => {
      acceptSnowflakeBodies(scope, this.#door.limits, (request) => this.#authenticatedSender(request));
      scope.setErrorHandler((err: unknown, request, reply) => {
        const e = err as { validation?: unknown; message?: string; statusCode?: number };
        const f: SnowflakeFailure =
          e.validation || (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
            ? failures.badRequest(e.message ?? 'invalid request')
            : toSnowflakeFailure(err);
        if (f.airlockCode === 'runtime.internal') request.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'Snowflake request failed');
        if (request.url.startsWith(SQL_API_PATH)) {
          // the SQL API has status codes of its own: 400 for a request it cannot read, 422 for a statement that failed
          const status = f.airlockCode === 'runtime.invalid_request' ? 400 : sqlApiStatus(f);
          void reply.code(status).type('application/json').send(sqlApiFailure(f, null, Date.now()));
          return;
        }
        void answer(reply, request.url.startsWith(LOGIN_PATH) ? loginFailureBody(f) : failureBody(f, null));
      });
      this.#connectorRoutes(scope);
      registerSqlApi(scope, this);
    });
  }

  /** The login session of the request, or the answer already sent. */
  #login(request: FastifyRequest, reply: FastifyReply): LoginSession | undefined {
    const login = this.#logins.resolve(snowflakeToken(request.headers.authorization));
    if ('code' in login) {
      void answer(reply, failureBody(login, null));
      return undefined;
    }
    return login;
  }

  #connectorRoutes(scope: FastifyInstance): void {
    scope.post<{ Body: LoginRequest; Querystring: LoginQuery }>(
      LOGIN_PATH,
      { schema: { body: LoginRequest, querystring: LoginQuery } },
      async (request, reply) => answer(reply, await this.#loginRequest(request)),
    );

    scope.post<{ Body: QueryRequest; Querystring: RequestIdQuery }>(
      '/queries/v1/query-request',
      { schema: { body: QueryRequest, querystring: RequestIdQuery } },
      async (request, reply) => {
        const login = this.#login(request, reply);
        if (!login) return reply;
        const body = request.body;
        if (body.sqlText.trim() === '') return answer(reply, failureBody(failures.emptyStatement(), null));
        if (body.describeOnly) return answer(reply, failureBody(failures.unsupported('describeOnly requests are not supported through Airlock; run the statement'), null));
        if (body.bindStage) return answer(reply, failureBody(failures.unsupported('stage bindings are not supported through Airlock'), null));
        const params = bindingsToParams(body.bindings ?? undefined);
        login.active += 1;
        const run = this.start(loginOwner(login), login.session, login.lock, body.sqlText, params, request.query.requestId ?? null, () => {
          login.active -= 1;
          login.lastUsed = Date.now();
        });
        if (body.asyncExec) return answer(reply, inProgressBody(run.queryId, { async: true }));
        await run.wait(this.#settings.resultWaitMs, true);
        return this.respond(reply, run, login.sessionInfo);
      },
    );

    scope.get<{ Params: QueryIdParams }>('/queries/:queryId/result', { schema: { params: QueryIdParams } }, async (request, reply) => {
      const login = this.#login(request, reply);
      if (!login) return reply;
      const run = this.find(request.params.queryId, loginOwner(login));
      if (!run) return answer(reply, failureBody(failures.queryNotFound(request.params.queryId), request.params.queryId));
      await run.wait(this.#settings.resultWaitMs, false);
      return this.respond(reply, run, login.sessionInfo);
    });

    scope.get<{ Params: QueryIdParams }>('/monitoring/queries/:queryId', { schema: { params: QueryIdParams } }, async (request, reply) => {
      const login = this.#login(request, reply);
      if (!login) return reply;
      const run = this.find(request.params.queryId, loginOwner(login));
      return answer(
        reply,
        monitoringBody(
          run
            ? { queryId: run.queryId, status: run.status, startTime: run.createdAt, endTime: run.endedAt, sessionId: login.sessionId, failure: run.failure }
            : null,
          Date.now(),
        ),
      );
    });

    scope.post<{ Body: AbortRequest }>('/queries/v1/abort-request', { schema: { body: AbortRequest } }, async (request, reply) => {
      const login = this.#login(request, reply);
      if (!login) return reply;
      const run = this.runsOf(loginOwner(login)).find((r) => r.clientRequestId === request.body.requestId);
      return answer(reply, await this.#abortReply(run));
    });

    scope.post<{ Params: QueryIdParams }>('/queries/:queryId/abort-request', { schema: { params: QueryIdParams } }, async (request, reply) => {
      const login = this.#login(request, reply);
      if (!login) return reply;
      return answer(reply, await this.#abortReply(this.find(request.params.queryId, loginOwner(login))));
    });

    scope.post('/session/heartbeat', async (request, reply) => {
      const login = this.#login(request, reply);
      if (!login) return reply;
      return answer(reply, okBody());
    });

    scope.post<{ Body: TokenRequest }>('/session/token-request', { schema: { body: TokenRequest } }, async (request, reply) => {
      const login = this.#logins.renew(snowflakeToken(request.headers.authorization), request.body.oldSessionToken);
      if ('code' in login) return answer(reply, failureBody(login, null));
      // the new tokens are not handed out before identity has verified the login's token again, against today's
      // issuers, keys and group mapping: a token no longer valid ends the login, and so does a changed principal,
      // whose session was decided for other groups (the driver then logs in again and is decided afresh)
      const refusal = await this.#recheck(login);
      if (refusal) {
        await this.#endLogin(login, refusal);
        return answer(reply, failureBody(failures.masterExpired(), null));
      }
      return answer(reply, renewBody({ ...this.#validity(login), sessionId: login.sessionId }));
    });

    scope.post<{ Querystring: { delete?: string } }>('/session', async (request, reply) => {
      if (request.query.delete !== 'true') return answer(reply, okBody());
      const login = this.#logins.resolve(snowflakeToken(request.headers.authorization));
      // closing an unknown or expired session succeeds: the driver treats the session as gone either way
      if ('code' in login) return answer(reply, okBody());
      await this.#endLogin(login, 'client-closed');
      return answer(reply, okBody());
    });

    // the driver reports its own telemetry; Airlock records its own events and drops these
    scope.post('/telemetry/send', async (_request, reply) => answer(reply, okBody()));
  }

  /** Why the login may not renew, or undefined when identity still vouches for the same principal. */
  async #recheck(login: LoginSession): Promise<string | undefined> {
    let principal: Principal;
    try {
      ({ principal } = await this.#door.gateway.verify(login.credential, 'snowflake', login.session.id, true));
    } catch (err) {
      this.#door.logger.info({ sessionId: login.session.id, airlockCode: toSnowflakeFailure(err).airlockCode }, 'Snowflake renewal refused: the token no longer verifies');
      return 'token-invalid';
    }
    const groups = (p: Principal) => JSON.stringify([...p.groups].sort());
    const before = login.principal;
    if (principal.subject !== before.subject || principal.issuer !== before.issuer || groups(principal) !== groups(before)) {
      this.#door.logger.info({ sessionId: login.session.id, subject: before.subject }, 'Snowflake renewal refused: the principal changed since login');
      return 'principal-changed';
    }
    return undefined;
  }

  #validity(login: LoginSession): { token: string; masterToken: string; validityInSeconds: number; masterValidityInSeconds: number } {
    const now = Date.now();
    return {
      token: login.token,
      masterToken: login.masterToken,
      validityInSeconds: Math.max(0, Math.round((login.tokenExpiresAt - now) / 1000)),
      masterValidityInSeconds: Math.max(0, Math.round((login.masterExpiresAt - now) / 1000)),
    };
  }

  async #abortReply(run: StatementRun | undefined): Promise<Record<string, unknown>> {
    if (!run || !(await run.cancel())) {
      const f = failures.notExecuting();
      return { success: false, code: '', message: f.message, data: { errorCode: f.code, sqlState: f.sqlState }, headers: null };
    }
    return okBody();
  }

  async #loginRequest(request: FastifyRequest<{ Body: LoginRequest; Querystring: LoginQuery }>): Promise<Record<string, unknown>> {
    const data = request.body.data;
    const logger = this.#door.logger;
    const authenticator = (data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
    if (authenticator !== 'OAUTH') {
      return loginFailureBody(
        failure(snowflakeCodes.badUserPassword, 'Airlock accepts only AUTHENTICATOR=OAUTH with your OIDC token as the token; it never holds Snowflake passwords or keys for clients', '08004', 'identity.missing_token'),
      );
    }
    let principal: Principal;
    let notAfter: number;
    try {
      if (!data.TOKEN) throw new AirlockError('identity.missing_token', 'send your OIDC token as the OAuth token');
      const verified = await this.#door.gateway.verify(data.TOKEN, 'snowflake');
      principal = verified.principal;
      notAfter = verified.expiresAt.getTime();
    } catch (err) {
      const f = toSnowflakeFailure(err);
      const refused = f.airlockCode.startsWith('identity.');
      const shaped = refused
        ? { ...f, message: `Authentication failed. ${f.message}` }
        : failure(snowflakeCodes.oauthInvalid, 'Authentication failed: Airlock could not verify the token right now; retry the login', '08004', f.airlockCode);
      logger.info({ code: shaped.code, airlockCode: f.airlockCode }, 'Snowflake login refused');
      return loginFailureBody(shaped);
    }
    const connection = this.connectionFor(data.ACCOUNT_NAME);
    if (!connection) {
      logger.info({ subject: principal.subject }, 'Snowflake login for an unknown connection');
      return loginFailureBody(
        failure(
          snowflakeCodes.doesNotExist,
          `Airlock has no Snowflake connection named "${data.ACCOUNT_NAME ?? ''}"; set the account option to the name of a configured Snowflake connection`,
          '08004',
          'policy.unknown_connection',
        ),
      );
    }
    let session: StatementSession;
    try {
      session = this.#door.gateway.openSession(principal, connection, 'snowflake', `${request.ip}:${request.socket.remotePort ?? '?'}`);
    } catch (err) {
      return loginFailureBody(toSnowflakeFailure(err));
    }
    const sessionInfo = this.sessionInfoFor(connection, request.query);
    const login = this.#logins.create({ session, connection, principal, credential: data.TOKEN, sessionInfo, notAfter });
    logger.info({ sessionId: session.id, connection, subject: principal.subject }, 'Snowflake login');
    return loginBody({
      ...this.#validity(login),
      sessionId: login.sessionId,
      displayUserName: principal.email ?? principal.subject,
      parameters: defaultParameters,
      sessionInfo,
    });
  }
}
