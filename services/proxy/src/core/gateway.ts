import { randomUUID } from 'node:crypto';
import { approvalV1, credentialV1, identityV1, policyV1, type Principal, type proxyV1 } from '@airlock/contracts';
import { AirlockError, newContext, type Bus } from '@airlock/runtime';
import type { Session } from './session.js';

/** What `requestAccess` answers: no approval needed, or the approval request it submitted. */
export type AccessRequest =
  | { state: 'not_required'; rule: string | null }
  | {
      state: approvalV1.ApprovalState;
      rule: string | null;
      approvalId: string;
      approverGroups: string[];
      quorum: number;
      expiresAt: string;
    };

/**
 * What a front door may ask of the proxy: the one way it reaches sessions and the other services. A front door holds
 * this and its own resolved settings, never the bus or the config, so every call to policy, approval, identity and
 * credential is made here, once, the same for every door.
 */
export interface Gateway {
  /** verifies a bearer token for the door's own audience (MCP's for `mcp`, the database doors' for the others), with its expiry */
  /** `recheck`: verifying again a token that already opened this session (a renewal) */
  verify(token: string, frontend: proxyV1.Frontend, sessionId?: string, recheck?: boolean): Promise<{ principal: Principal; expiresAt: Date }>;
  /** as `verify`, the principal alone */
  authenticate(token: string, frontend: proxyV1.Frontend, sessionId?: string): Promise<Principal>;
  /** opens a session on a configured connection; throws for an unknown one */
  openSession(principal: Principal, connection: string, frontend: proxyV1.Frontend, client: string | undefined, sessionId?: string): Session;
  /** what policy would decide for this statement in this session, as it decides for one that runs; nothing runs */
  explain(session: Session, sql: string): Promise<policyV1.Decision>;
  /** as `explain`, but a statement policy denies is thrown as its refusal */
  permitted(session: Session, sql: string): Promise<policyV1.Decision>;
  /** the rules that let the principal run statements, per connection (or the one named), as policy matches them */
  explainAccess(principal: Principal, connection?: string): Promise<policyV1.ExplainAccessResponse>;
  /** asks the approvers policy names to let this statement run; a statement policy denies is thrown as its refusal */
  requestAccess(session: Session, sql: string, justification: string): Promise<AccessRequest>;
  /** an approval request's state; with `caller`, answered only to its requester and approvers */
  approvalStatus(approvalId: string, caller?: Principal): Promise<approvalV1.ApprovalStatus>;
  /** the tables and columns of a connection, as the credential service reads them */
  catalog(connection: string): Promise<credentialV1.CatalogResponse>;
}

/** A denied decision as the error every door reports: its code, its rule and policy's reason. */
export function refusal(decision: policyV1.Decision): AirlockError {
  return new AirlockError(
    (decision.code as 'policy.denied' | undefined) ?? 'policy.denied',
    `Airlock refused this statement${decision.rule ? ` (rule "${decision.rule}")` : ''}: ${decision.reason}`,
    { rule: decision.rule, requestId: decision.requestId },
  );
}

export interface GatewayDeps {
  bus: Bus;
  /** opens a session within the principal's limits; throws for an unknown connection */
  openSession: Gateway['openSession'];
}

/** The gateway over the bus: the calls a door needs, with the requests built as every service expects them. */
export function busGateway(deps: GatewayDeps): Gateway {
  const { bus } = deps;
  // the door each session was opened by: policy is told which door a statement came through
  const doors = new WeakMap<Session, proxyV1.Frontend>();
  const openSession: Gateway['openSession'] = (principal, connection, frontend, client, sessionId) => {
    const session = deps.openSession(principal, connection, frontend, client, sessionId);
    doors.set(session, frontend);
    return session;
  };
  const verify: Gateway['verify'] = async (token, frontend, sessionId, recheck) => {
    if (token === '') throw new AirlockError('identity.missing_token', 'send your OIDC token');
    // the database doors take one audience and MCP its own: a token made for one door is refused at the others
    const door = frontend === 'mcp' ? 'mcp' : 'database';
    const { principal, expiresAt } = await bus.call(identityV1.verifyToken, { token, frontend, door, ...(sessionId ? { sessionId } : {}), ...(recheck ? { recheck } : {}) }, newContext());
    return { principal, expiresAt: new Date(expiresAt) };
  };
  const explain: Gateway['explain'] = async (session, sql) => {
    const frontend = doors.get(session);
    if (!frontend) throw new AirlockError('runtime.internal', 'a statement was explained for a session this proxy did not open');
    const requestId = randomUUID();
    return bus.call(
      policyV1.decide,
      { requestId, sessionId: session.id, principal: session.principal, connection: session.connection, sql, frontend },
      newContext(requestId),
    );
  };
  const permitted: Gateway['permitted'] = async (session, sql) => {
    const decision = await explain(session, sql);
    if (decision.outcome === 'deny') throw refusal(decision);
    return decision;
  };
  return {
    verify,
    authenticate: async (token, frontend, sessionId) => (await verify(token, frontend, sessionId)).principal,
    openSession,
    explain,
    permitted,
    explainAccess: (principal, connection) =>
      bus.call(policyV1.explainAccess, { principal, ...(connection !== undefined ? { connection } : {}) }, newContext()),
    requestAccess: async (session, sql, justification) => {
      const decision = await permitted(session, sql);
      if (decision.outcome === 'allow') return { state: 'not_required', rule: decision.rule };
      const analysis = decision.analysis;
      const approverGroups = decision.approval?.approverGroups ?? [];
      const quorum = decision.approval?.quorum ?? 1;
      const status = await bus.call(
        approvalV1.submitApproval,
        {
          requestId: decision.requestId,
          sessionId: session.id,
          principal: session.principal,
          connection: session.connection,
          sql: analysis?.normalized ?? sql.trim(),
          fingerprint: analysis?.fingerprint ?? '',
          kind: analysis?.kind ?? 'other',
          tables: analysis?.tables.map((t) => `${t.schema}.${t.table}`) ?? [],
          rule: decision.rule,
          approverGroups,
          quorum,
          justification,
          // approvers and quorum are the signed decision's own: the approval service checks them against it
          ...(decision.token ? { decision: decision.token } : {}),
        },
        newContext(decision.requestId),
      );
      return { state: status.state, rule: decision.rule, approvalId: status.approvalId, approverGroups: [...approverGroups], quorum, expiresAt: status.expiresAt };
    },
    approvalStatus: (approvalId, caller) => bus.call(approvalV1.getApprovalStatus, { approvalId, ...(caller ? { caller } : {}) }, newContext()),
    catalog: (connection) => bus.call(credentialV1.catalog, { connection }, newContext()),
  };
}
