import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '@airlock/contracts';
import { bindingsToParams } from './bindings.js';
import { failures, snowflakeCodes, toSnowflakeFailure, type SnowflakeFailure } from './errors.js';
import type { FrontDoor } from '../http/server.js';
import { resultBody, sqlApiResult } from './result-stream.js';
import { HandleParams, StatementQuery, StatementRequest } from './schemas.js';
import { Mutex, type StatementRun, type StatementSession } from './statement-run.js';

/** The header that names the Airlock connection: the SQL API has no account field, Snowflake takes it from the host. */
export const CONNECTION_HEADER = 'x-airlock-connection';

export const SQL_API_PATH = '/api/v2/';

const statusUrl = (handle: string): string => `/api/v2/statements/${handle}`;

/** SQL API status codes: 422 for a failed statement, 408 when it was cancelled or timed out. */
export function sqlApiStatus(f: SnowflakeFailure): number {
  if (f.code === snowflakeCodes.canceled || f.code === snowflakeCodes.timeout) return 408;
  if (f.code === snowflakeCodes.oauthInvalid || f.code === snowflakeCodes.oauthExpired) return 401;
  return 422;
}

/** QueryFailureStatus of the SQL API. */
export function sqlApiFailure(f: SnowflakeFailure, handle: string | null, createdOn: number): Record<string, unknown> {
  return {
    code: f.code,
    sqlState: f.sqlState,
    message: f.message,
    ...(handle ? { statementHandle: handle, statementStatusUrl: statusUrl(handle) } : {}),
    createdOn,
    airlockCode: f.airlockCode,
  };
}

/** QueryStatus of the SQL API: the statement still runs (or waits for approval); poll the status URL. */
export function sqlApiInProgress(handle: string, message?: string): Record<string, unknown> {
  return {
    code: '333334',
    message: message ?? 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.',
    statementHandle: handle,
    statementStatusUrl: statusUrl(handle),
  };
}

/** Who may see a SQL API statement: the principal that sent it, from any request that carries its token. */
export const principalOwner = (p: Principal): string => `principal:${p.issuer}\u0000${p.subject}`;

/** What the SQL API needs of the Snowflake front door that mounts it (which keeps the statements and logins). */
export interface SqlApiHost {
  readonly door: FrontDoor;
  readonly settings: { resultWaitMs: number; batchRows: number };
  /** the Snowflake connection a name designates (case-insensitive), if one is configured */
  connectionFor(name: string | undefined): string | undefined;
  /** the principal of the request's bearer token, verified once per request */
  bearerPrincipal(request: FastifyRequest): Promise<Principal>;
  /** starts a statement in the background and records it for polling by its owner */
  start(owner: string, session: StatementSession, lock: Mutex, sql: string, params: Array<string | null>, clientRequestId: string | null, onEnd?: (run: StatementRun) => void): StatementRun;
  find(queryId: string, owner: string): StatementRun | undefined;
}

/**
 * SQL API v2: each request carries the caller's OIDC token as a bearer token and names the connection in the
 * `X-Airlock-Connection` header. Each statement runs in its own proxy Session, closed (leases revoked) once its
 * result was delivered, it failed, was cancelled, or its result expired unfetched.
 */
export function registerSqlApi(scope: FastifyInstance, front: SqlApiHost): void {
  const door = front.door;

  const principalOf = async (request: FastifyRequest, reply: FastifyReply): Promise<Principal | undefined> => {
    try {
      return await front.bearerPrincipal(request);
    } catch (err) {
      const f = toSnowflakeFailure(err);
      const refused = f.airlockCode.startsWith('identity.');
      void reply
        .code(refused ? 401 : 503)
        .type('application/json')
        .send({ code: refused ? f.code : snowflakeCodes.internal, message: refused ? `Authentication failed. ${f.message}` : 'Airlock could not verify the token right now; retry', airlockCode: f.airlockCode });
      return undefined;
    }
  };

  const respond = async (reply: FastifyReply, run: StatementRun, requestId: string | null): Promise<FastifyReply> => {
    const taken = run.take();
    if (taken === null) return reply.code(202).type('application/json').send(sqlApiInProgress(run.queryId, run.hold?.message));
    if ('failure' in taken) return reply.code(sqlApiStatus(taken.failure)).type('application/json').send(sqlApiFailure(taken.failure, run.queryId, run.createdAt));
    const stream = sqlApiResult(taken.source, { handle: run.queryId, requestId, createdOn: run.createdAt, batchRows: front.settings.batchRows }, taken.end);
    return reply.code(200).type('application/json').send(await resultBody(taken.source, stream));
  };

  const badRequest = (reply: FastifyReply, message: string): FastifyReply =>
    reply.code(400).type('application/json').send({ code: snowflakeCodes.internal, message, airlockCode: 'runtime.invalid_request' });

  scope.post<{ Body: StatementRequest; Querystring: StatementQuery }>(
    '/api/v2/statements',
    { schema: { body: StatementRequest, querystring: StatementQuery } },
    async (request, reply) => {
      const principal = await principalOf(request, reply);
      if (!principal) return reply;
      const header = request.headers[CONNECTION_HEADER];
      const connection = front.connectionFor(typeof header === 'string' ? header : undefined);
      if (!connection) {
        return badRequest(reply, `name a configured Snowflake connection in the ${CONNECTION_HEADER} header`);
      }
      const sql = request.body.statement;
      if (sql.trim() === '') return reply.code(422).type('application/json').send(sqlApiFailure(failures.emptyStatement(), null, Date.now()));
      let params: Array<string | null>;
      try {
        params = bindingsToParams(request.body.bindings);
      } catch (err) {
        return reply.code(422).type('application/json').send(sqlApiFailure(toSnowflakeFailure(err), null, Date.now()));
      }
      const session = door.gateway.openSession(principal, connection, 'snowflake', `${request.ip}:${request.socket.remotePort ?? '?'}`);
      const run = front.start(principalOwner(principal), session, new Mutex(), sql, params, request.query.requestId ?? null, () => {
        void session.close('statement-complete').catch((err: unknown) => {
          door.logger.warn({ sessionId: session.id, err: err instanceof Error ? err.message : String(err) }, 'closing a SQL API session failed');
        });
      });
      if (request.query.async === 'true') return reply.code(202).type('application/json').send(sqlApiInProgress(run.queryId));
      await run.wait(front.settings.resultWaitMs, true);
      return respond(reply, run, request.query.requestId ?? null);
    },
  );

  scope.get<{ Params: HandleParams; Querystring: StatementQuery }>(
    '/api/v2/statements/:handle',
    { schema: { params: HandleParams, querystring: StatementQuery } },
    async (request, reply) => {
      const principal = await principalOf(request, reply);
      if (!principal) return reply;
      if (request.query.partition !== undefined && request.query.partition !== '0') {
        return badRequest(reply, 'Airlock returns every row in partition 0');
      }
      const run = front.find(request.params.handle, principalOwner(principal));
      if (!run) return reply.code(404).type('application/json').send(sqlApiFailure(failures.queryNotFound(request.params.handle), null, Date.now()));
      return respond(reply, run, request.query.requestId ?? null);
    },
  );

  scope.post<{ Params: HandleParams }>('/api/v2/statements/:handle/cancel', { schema: { params: HandleParams } }, async (request, reply) => {
    const principal = await principalOf(request, reply);
    if (!principal) return reply;
    const run = front.find(request.params.handle, principalOwner(principal));
    if (!run) return reply.code(404).type('application/json').send(sqlApiFailure(failures.queryNotFound(request.params.handle), null, Date.now()));
    if (!(await run.cancel())) {
      return reply.code(422).type('application/json').send(sqlApiFailure(failures.notExecuting(), run.queryId, run.createdAt));
    }
    const f = failures.canceled();
    return reply.code(200).type('application/json').send({ code: f.code, sqlState: f.sqlState, message: f.message, statementHandle: run.queryId, statementStatusUrl: statusUrl(run.queryId) });
  });
}
