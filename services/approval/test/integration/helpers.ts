import { createServer, type Server } from 'node:http';
import pg from 'pg';
import { approvalV1, identityV1, policyV1, type Principal } from '@airlock/contracts';
import { Bus, newContext } from '@airlock/runtime';
import { databaseUrl, type TestStack } from '@airlock/testkit';

/** What a front door does when policy holds a statement: decide, then submit with the analysis. */
export class Front {
  readonly bus: Bus;
  readonly #t: TestStack;
  private constructor(bus: Bus, t: TestStack) {
    this.bus = bus;
    this.#t = t;
  }
  static async connect(t: TestStack): Promise<Front> {
    return new Front(await Bus.connect({ url: t.env['NATS_URL']!, root: t.root, service: 'approval-test', logger: t.logger }), t);
  }
  async principal(token: string): Promise<Principal> {
    return (await this.bus.call(identityV1.verifyToken, { token }, newContext())).principal;
  }
  /** The submit request a front door sends for `sql`; approvers and quorum from policy when it holds the statement. */
  async held(token: string, sql: string, extra: Partial<approvalV1.SubmitApprovalRequest> = {}): Promise<approvalV1.SubmitApprovalRequest> {
    const principal = await this.principal(token);
    const ctx = newContext();
    const decision = await this.bus.call(
      policyV1.decide,
      { requestId: ctx.requestId, sessionId: 's-1', principal, connection: 'demo', sql, frontend: 'pgwire' },
      ctx,
    );
    const a = decision.analysis!;
    return {
      requestId: ctx.requestId,
      sessionId: 's-1',
      principal,
      connection: 'demo',
      sql: a.normalized,
      fingerprint: a.fingerprint,
      kind: a.kind,
      tables: a.tables.map((x) => `${x.schema}.${x.table}`),
      rule: decision.rule,
      approverGroups: decision.approval?.approverGroups ?? ['dba'],
      quorum: decision.approval?.quorum ?? 1,
      // the approval service takes approvers, quorum and statement from the signed decision only
      ...(decision.token ? { decision: decision.token } : {}),
      ...extra,
    };
  }
  async submit(req: approvalV1.SubmitApprovalRequest): Promise<approvalV1.ApprovalStatus> {
    return this.bus.call(approvalV1.submitApproval, { ...req, requestId: newContext().requestId }, newContext());
  }
  async status(approvalId: string): Promise<approvalV1.ApprovalStatus> {
    return this.bus.call(approvalV1.getApprovalStatus, { approvalId }, newContext());
  }
  close(): Promise<void> {
    return this.bus.close();
  }
}

export interface Reply {
  status: number;
  body: any;
}

/** Calls the approval API on `port` with the caller's token. */
export async function api(port: number, method: 'GET' | 'POST', path: string, token?: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

/** A real HTTP server that records what webhooks send; `answer` decides the status per request. */
export class Receiver {
  readonly received: Array<{ path: string; body: any }> = [];
  hits = 0;
  answer: (path: string) => number = () => 200;
  readonly #server: Server;
  private constructor(server: Server) {
    this.#server = server;
  }
  static async start(): Promise<Receiver> {
    const r: Receiver = new Receiver(
      createServer((req, res) => {
        let data = '';
        req.on('data', (c) => (data += c));
        req.on('end', () => {
          r.hits++;
          const status = r.answer(req.url ?? '/');
          if (status < 300) r.received.push({ path: req.url ?? '/', body: JSON.parse(data) });
          res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'failing on purpose');
        });
      }),
    );
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    return r;
  }
  url(path: string): string {
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}${path}`;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export async function stateQuery<T extends pg.QueryResultRow>(t: TestStack, sql: string, args: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: databaseUrl(t.stateDb) });
  await c.connect();
  try {
    return (await c.query<T>(sql, args)).rows;
  } finally {
    await c.end();
  }
}

export async function rejectsWith(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'resolved';
}
