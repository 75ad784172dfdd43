import { createHash, createPublicKey, randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { gunzip, gunzipSync } from 'node:zlib';
import { importPKCS8, SignJWT } from 'jose';
import { SnowflakeError } from './errors.js';

export interface QueryResult {
  queryId: string;
  rowtype: Array<Record<string, unknown>>;
  /** the first rows, inline */
  rowset: Array<Array<string | null>>;
  chunks: Array<{ url: string; rowCount: number }>;
  chunkHeaders: Record<string, string>;
  statementTypeId: number;
  parameters: Array<{ name: string; value: unknown }>;
  total: number;
}

export interface LoginOptions {
  accessUrl: string;
  account: string;
  user: string;
  role: string;
  warehouse?: string;
  database?: string;
  schema?: string;
  /** key-pair login (an ephemeral service user) */
  privateKeyPem?: string;
  /** External OAuth login */
  token?: string;
}

interface Envelope {
  success: boolean;
  code: string | null;
  message: string | null;
  data: Record<string, unknown> | null;
}

/** How long one request to Snowflake may take, from sending it to its whole answer. */
const REQUEST_TIMEOUT_MS = 300_000;

/**
 * One upstream session's HTTP connections: kept alive between its requests (a statement costs one request on an open
 * socket, not a TCP handshake), never shared with another session, and closed with the session.
 */
class Connections {
  readonly #base: URL;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;

  constructor(base: string) {
    this.#base = new URL(base);
    const secure = this.#base.protocol === 'https:';
    // one request at a time per session in practice (a statement, then the next); a cancel may run beside it
    this.#agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
    this.#request = secure ? https.request : http.request;
  }

  /** Sends one request (the JSON payload in one write, with its length) and parses the JSON answer. */
  async send(path: string, method: 'GET' | 'POST', payload: unknown, token: string | undefined): Promise<Envelope> {
    const body = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload), 'utf8');
    const headers: Record<string, string | number> = { accept: 'application/snowflake', 'accept-encoding': 'gzip', 'content-type': 'application/json' };
    if (token) headers['authorization'] = `Snowflake Token="${token}"`;
    if (body) headers['content-length'] = body.length;
    let res: { status: number; text: string };
    try {
      // only a GET is sent again: a statement the server may have run before the reset must never run twice
      res = await this.#exchange(path, method, headers, body, method === 'GET');
    } catch (err) {
      throw new SnowflakeError('000000', `Snowflake is not reachable (${err instanceof Error ? err.message : 'error'})`, '08001');
    }
    try {
      return JSON.parse(res.text) as Envelope;
    } catch {
      throw new SnowflakeError('000000', `Snowflake answered HTTP ${res.status} without a JSON body`, '08001');
    }
  }

  /**
   * One request and its whole answer. A kept-alive socket the server closed while idle fails before any answer: with
   * `retry` (reads only) the request is sent once more on a fresh socket; a POST (a login, a statement) is not, since
   * the server may have acted on it before the reset, and its caller gets the error instead.
   */
  #exchange(path: string, method: string, headers: Record<string, string | number>, body: Buffer | undefined, retry: boolean): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const url = new URL(path, this.#base);
      const req = this.#request(url, { method, headers, agent: this.#agent });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
      let answered = false;
      req.on('response', (res: IncomingMessage) => {
        answered = true;
        readAll(res).then(
          (text) => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, text });
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (retry && !answered && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          this.#exchange(path, method, headers, body, false).then(resolve, reject);
        } else reject(err);
      });
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** An answer's body as text, gunzipped when the server compressed it. */
function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the answer was cut off')));
    res.on('end', () => {
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      if (!/^gzip$/i.test(String(res.headers['content-encoding'] ?? '').trim())) return resolve(raw.toString('utf8'));
      gunzip(raw, (err, out) => (err ? reject(err) : resolve(out.toString('utf8'))));
    });
  });
}

/**
 * The Snowflake connector REST protocol, client side, kept to what a proxy needs: the raw `rowtype` and `rowset`
 * strings pass through untouched (the driver's public API only gives converted values, which lose NUMBER(38)
 * precision, nanoseconds and TIMESTAMP_TZ offsets), and rows are read chunk by chunk so memory stays bounded.
 */
export class SnowflakeWireClient {
  readonly #http: Connections;
  #token: string;
  #closed = false;
  /** the session id the server answered at login (as a decimal string), when it answered one */
  readonly sessionId: string | undefined;

  private constructor(connections: Connections, token: string, sessionId: string | undefined) {
    this.#http = connections;
    this.#token = token;
    this.sessionId = sessionId;
  }

  static async login(o: LoginOptions): Promise<SnowflakeWireClient> {
    const connections = new Connections(o.accessUrl.replace(/\/$/, '') + '/');
    try {
      return await SnowflakeWireClient.#login(connections, o);
    } catch (err) {
      connections.close();
      throw err;
    }
  }

  static async #login(connections: Connections, o: LoginOptions): Promise<SnowflakeWireClient> {
    const params = new URLSearchParams({ requestId: randomUUID(), roleName: o.role });
    if (o.warehouse) params.set('warehouse', o.warehouse);
    if (o.database) params.set('databaseName', o.database);
    if (o.schema) params.set('schemaName', o.schema);
    const data: Record<string, unknown> = {
      ACCOUNT_NAME: o.account,
      CLIENT_APP_ID: 'Airlock',
      CLIENT_APP_VERSION: '0.1.0',
      SESSION_PARAMETERS: {},
    };
    if (o.privateKeyPem) {
      data['AUTHENTICATOR'] = 'SNOWFLAKE_JWT';
      data['LOGIN_NAME'] = o.user;
      data['TOKEN'] = await keyPairJwt(o.account, o.user, o.privateKeyPem);
    } else if (o.token) {
      data['AUTHENTICATOR'] = 'OAUTH';
      data['TOKEN'] = o.token;
    } else {
      throw new Error('a Snowflake login needs a private key or an OAuth token');
    }
    const body = await connections.send(`session/v1/login-request?${params}`, 'POST', { data }, undefined);
    const token = body.data?.['token'];
    if (!body.success || typeof token !== 'string') throw errorOf(body);
    const sessionId = body.data?.['sessionId'];
    return new SnowflakeWireClient(connections, token, typeof sessionId === 'number' || typeof sessionId === 'string' ? String(sessionId) : undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs one statement; polls while the server says it is still running. */
  async query(
    sqlText: string,
    params: Array<string | null>,
    options: { requestId: string; queryTag?: string; timeoutMs?: number },
  ): Promise<QueryResult> {
    const bindings: Record<string, { type: string; value: string | null }> = {};
    params.forEach((v, i) => (bindings[String(i + 1)] = { type: 'TEXT', value: v }));
    const parameters: Record<string, unknown> = {};
    if (options.queryTag !== undefined) parameters['QUERY_TAG'] = options.queryTag;
    if (options.timeoutMs !== undefined) parameters['STATEMENT_TIMEOUT_IN_SECONDS'] = Math.max(1, Math.ceil(options.timeoutMs / 1000));
    let body = await this.#http.send(
      `queries/v1/query-request?requestId=${encodeURIComponent(options.requestId)}`,
      'POST',
      { sqlText, asyncExec: false, ...(params.length ? { bindings } : {}), parameters, queryContextDTO: { entries: [] } },
      this.#token,
    );
    while (body.success && (body.code === '333333' || body.code === '333334')) {
      const url = body.data?.['getResultUrl'];
      if (typeof url !== 'string') throw new SnowflakeError('000000', 'the server answered in progress without a result URL', 'XX000');
      await new Promise((r) => setTimeout(r, 250));
      body = await this.#http.send(url.replace(/^\/+/, ''), 'GET', undefined, this.#token);
    }
    if (!body.success || !body.data) throw errorOf(body);
    const d = body.data;
    return {
      queryId: String(d['queryId'] ?? ''),
      rowtype: (d['rowtype'] as Array<Record<string, unknown>>) ?? [],
      rowset: (d['rowset'] as Array<Array<string | null>>) ?? [],
      chunks: ((d['chunks'] as Array<{ url: string; rowCount: number }>) ?? []).map((c) => ({ url: c.url, rowCount: c.rowCount })),
      chunkHeaders: (d['chunkHeaders'] as Record<string, string>) ?? {},
      statementTypeId: Number(d['statementTypeId'] ?? 0),
      parameters: (d['parameters'] as Array<{ name: string; value: unknown }>) ?? [],
      total: Number(d['total'] ?? 0),
    };
  }

  /** Downloads one result chunk: the rows without the outer brackets, possibly gzipped. */
  async chunk(url: string, headers: Record<string, string>): Promise<Array<Array<string | null>>> {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(120_000) });
    if (!res.ok) throw new SnowflakeError('000000', `result chunk download failed with HTTP ${res.status}`, 'XX000');
    let buf = Buffer.from(await res.arrayBuffer());
    if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
    return JSON.parse(`[${buf.toString('utf8')}]`) as Array<Array<string | null>>;
  }

  async abort(requestId: string): Promise<void> {
    await this.#http.send(`queries/v1/abort-request?requestId=${randomUUID()}`, 'POST', { requestId }, this.#token).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#http.send(`session?delete=true&requestId=${randomUUID()}`, 'POST', undefined, this.#token).catch(() => undefined);
    } finally {
      this.#http.close();
    }
  }
}

function errorOf(body: Envelope): SnowflakeError {
  const data = body.data ?? {};
  const code = String(body.code ?? data['errorCode'] ?? '000000');
  const sqlState = String(data['sqlState'] ?? 'XX000');
  return new SnowflakeError(code, body.message ?? 'Snowflake refused the request', sqlState);
}

/** The key-pair login JWT: `iss = ACCOUNT.USER.SHA256:<fingerprint>`, `sub = ACCOUNT.USER`, one minute of validity. */
export async function keyPairJwt(account: string, user: string, privateKeyPem: string): Promise<string> {
  const acct = account.toUpperCase().split('.')[0]!;
  const u = user.toUpperCase();
  const der = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  const fp = createHash('sha256').update(der).digest('base64');
  const key = await importPKCS8(privateKeyPem, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer(`${acct}.${u}.SHA256:${fp}`)
    .setSubject(`${acct}.${u}`)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(key);
}
