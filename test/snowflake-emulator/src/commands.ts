/**
 * Account-level statements the emulator answers itself (users, roles, grants, SHOW, USE, ALTER SESSION). They act on
 * the `_sfemu` catalogue and on PostgreSQL GRANTs of the backing roles; everything else goes to the translator.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { SnowflakeError, sfErrors } from './errors.js';
import { column, encodeDate, type Cell, type RowType } from './result-encoding.js';
import { identName, kw, pgIdent, quoteIdent, significant, tokenize, unquoteString, type Token } from './sql-tokens.js';
import { describeTable, showColumns, showDatabases, showSchemas, showTables, type ShowScope } from './metadata.js';
import { ACCOUNTADMIN, PUBLIC_ROLE, type Store, type UserProps, type UserRecord } from './store.js';

export const STATEMENT_TYPE = {
  select: 0x1000,
  insert: 0x3100,
  update: 0x3200,
  delete: 0x3300,
  merge: 0x3400,
  scl: 0x4000,
  alterSession: 0x4100,
  use: 0x4300,
  show: 0x4400,
  tcl: 0x5000,
  ddl: 0x6000,
} as const;

export interface ResultSet {
  statementTypeId: number;
  rowtype: RowType[];
  rowset: Cell[][];
}

/** The per-session state a command may read or change. */
export interface SessionState {
  user: string;
  role: string;
  database: string;
  schema: string;
  warehouse: string;
  /** Session parameters set by ALTER SESSION or at login (QUERY_TAG, TIMEZONE, …), upper-case keys. */
  params: Map<string, string>;
}

/** What commands need from the emulator beyond the catalogue. */
export interface CommandHost {
  store: Store;
  account: string;
  /** Run one statement as the connecting superuser (GRANT/REVOKE on backing roles). */
  adminQuery(sql: string, values?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** End every live session of a user (disable, drop). */
  endUserSessions(user: string): void;
  /** Cancel every running query of a user except the one executing this command. */
  abortUserQueries(user: string, exceptQueryId: string): Promise<number>;
  /** The user of a live session, or undefined when no such session is live. */
  sessionUser(sessionId: string): string | undefined;
  /** Cancel the running queries of one session (except this command's); their number. */
  cancelSessionQueries(sessionId: string, exceptQueryId: string): Promise<number>;
  /** End one session: its tokens then answer 390111. */
  abortSession(sessionId: string): void;
}

export function statusResult(status: string, statementTypeId: number = STATEMENT_TYPE.ddl): ResultSet {
  return { statementTypeId, rowtype: [column('status', 'text')], rowset: [[status]] };
}

class Cursor {
  i = 0;
  constructor(readonly toks: Token[]) {}
  peek(o = 0): Token | undefined {
    return this.toks[this.i + o];
  }
  kw(o = 0): string {
    return kw(this.peek(o));
  }
  accept(...words: string[]): boolean {
    if (words.every((w, k) => this.kw(k) === w)) {
      this.i += words.length;
      return true;
    }
    return false;
  }
  expect(...words: string[]): void {
    if (!this.accept(...words)) throw sfErrors.syntax(`syntax error line 1 unexpected '${this.peek()?.text ?? '<EOF>'}'.`);
  }
  op(text: string): boolean {
    if (this.peek()?.text === text) {
      this.i++;
      return true;
    }
    return false;
  }
  done(): boolean {
    while (this.peek()?.text === ';') this.i++;
    return this.i >= this.toks.length;
  }
  name(): Token {
    const t = this.peek();
    if (!t || (t.kind !== 'ident' && t.kind !== 'qident' && t.kind !== 'string')) {
      throw sfErrors.syntax(`syntax error line 1 unexpected '${t?.text ?? '<EOF>'}'.`);
    }
    this.i++;
    return t;
  }
  /** A possibly qualified object name; returns its parts. */
  qualified(): Token[] {
    const parts = [this.name()];
    while (this.op('.')) parts.push(this.name());
    return parts;
  }
  end(): void {
    if (!this.done()) throw sfErrors.syntax(`syntax error line 1 unexpected '${this.peek()?.text}'.`);
  }
}

type Command = (host: CommandHost, session: SessionState, queryId: string) => Promise<ResultSet>;

/** Recognise an account-level statement; null means "an ordinary statement, translate it for PostgreSQL". */
export function parseCommand(sql: string): Command | null {
  const control = /^\s*SELECT\s+SYSTEM\$(ABORT_SESSION|CANCEL_ALL_QUERIES)\s*\(\s*(\d+)\s*\)\s*;?\s*$/i.exec(sql);
  if (control) return sessionControl(control[1]!.toUpperCase() as 'ABORT_SESSION' | 'CANCEL_ALL_QUERIES', control[2]!);
  const toks = significant(tokenize(sql));
  const c = new Cursor(toks);
  const first = c.kw();
  const second = c.kw(1);
  if (first === 'USE') return parseUse(c);
  if (first === 'SHOW') return parseShow(c);
  if (first === 'ALTER' && second === 'SESSION') return parseAlterSession(c);
  if (first === 'ALTER' && second === 'USER') return parseAlterUser(c);
  if (first === 'DROP' && (second === 'USER' || second === 'ROLE')) return parseDrop(c);
  if (first === 'CREATE') {
    const k = c.kw(1) === 'OR' ? 3 : 1;
    if (c.kw(k) === 'USER') return parseCreateUser(c);
    if (c.kw(k) === 'ROLE') return parseCreateRole(c);
  }
  if (first === 'GRANT' || first === 'REVOKE') return parseGrant(c);
  if (first === 'DESCRIBE' || first === 'DESC') {
    if (second === 'USER') return parseDescribeUser(c);
    return parseDescribeTable(c);
  }
  return null;
}

/**
 * `SYSTEM$ABORT_SESSION(id)` ("session [id] terminated.") and `SYSTEM$CANCEL_ALL_QUERIES(id)`: a user may end or
 * cancel their own sessions, ACCOUNTADMIN any. A session already ended answers the same (idempotent here; Snowflake's
 * answer for an ended session is not in the documentation).
 */
function sessionControl(fn: 'ABORT_SESSION' | 'CANCEL_ALL_QUERIES', id: string): Command {
  return async (host, session, queryId) => {
    const owner = host.sessionUser(id);
    if (owner !== undefined && owner !== session.user && session.role !== ACCOUNTADMIN) {
      throw sfErrors.insufficientPrivileges('account', host.account.toUpperCase());
    }
    const canceled = owner === undefined ? 0 : await host.cancelSessionQueries(id, queryId);
    let status: string;
    if (fn === 'ABORT_SESSION') {
      if (owner !== undefined) host.abortSession(id);
      status = `session [${id}] terminated.`;
    } else status = `${canceled} queries terminated.`;
    return { statementTypeId: STATEMENT_TYPE.select, rowtype: [column(`SYSTEM$${fn}(${id})`, 'text')], rowset: [[status]] };
  };
}

function requireAdmin(host: CommandHost, session: SessionState): void {
  if (session.role !== ACCOUNTADMIN) throw sfErrors.insufficientPrivileges('account', host.account.toUpperCase());
}

// ---------------------------------------------------------------- USE / ALTER SESSION

function parseUse(c: Cursor): Command {
  c.expect('USE');
  if (c.accept('ROLE')) {
    const role = identName(c.name());
    c.end();
    return async (host, session) => {
      const roles = await host.store.userRoles(session.user);
      if (!roles.includes(role)) {
        if (!(await host.store.getRole(role))) throw sfErrors.roleDoesNotExist(role);
        throw sfErrors.roleNotAssigned(role);
      }
      session.role = role;
      return statusResult('Statement executed successfully.', STATEMENT_TYPE.use);
    };
  }
  if (c.accept('SECONDARY', 'ROLES')) {
    return async () => statusResult('Statement executed successfully.', STATEMENT_TYPE.use);
  }
  const what = c.accept('WAREHOUSE') ? 'WAREHOUSE' : c.accept('DATABASE') ? 'DATABASE' : c.accept('SCHEMA') ? 'SCHEMA' : '';
  const parts = c.qualified().map(identName);
  c.end();
  return async (_host, session) => {
    if (what === 'WAREHOUSE') session.warehouse = parts[0];
    else if (what === 'DATABASE') session.database = parts[0];
    else if (what === 'SCHEMA' || parts.length === 2) {
      if (parts.length === 2) session.database = parts[0];
      session.schema = parts[parts.length - 1];
    } else session.database = parts[0];
    return statusResult('Statement executed successfully.', STATEMENT_TYPE.use);
  };
}

function literalValue(t: Token): string {
  if (t.kind === 'string') return unquoteString(t.text);
  if (t.kind === 'qident') return identName(t);
  return t.text;
}

function parseAlterSession(c: Cursor): Command {
  c.expect('ALTER', 'SESSION');
  const set = new Map<string, string>();
  const unset: string[] = [];
  if (c.accept('SET')) {
    while (!c.done()) {
      const key = c.name().text.toUpperCase();
      c.op('=');
      const v = c.peek();
      if (!v) throw sfErrors.syntax(`syntax error line 1 unexpected '<EOF>'.`);
      c.i++;
      set.set(key, literalValue(v));
      c.op(',');
    }
  } else if (c.accept('UNSET')) {
    while (!c.done()) {
      unset.push(c.name().text.toUpperCase());
      c.op(',');
    }
  } else throw sfErrors.syntax(`syntax error line 1 unexpected '${c.peek()?.text ?? '<EOF>'}'.`);
  return async (_host, session) => {
    if (set.has('QUERY_TAG') && (set.get('QUERY_TAG') ?? '').length > 2000) {
      throw sfErrors.invalidProperty('QUERY_TAG is limited to 2000 characters.');
    }
    for (const [k, v] of set) session.params.set(k, v);
    for (const k of unset) session.params.delete(k);
    return statusResult('Statement executed successfully.', STATEMENT_TYPE.alterSession);
  };
}

// ---------------------------------------------------------------- users

/** RSA_PUBLIC_KEY as Snowflake stores it: the base64 SPKI DER body without PEM armour. */
export function normalizePublicKey(value: string): string {
  const body = value
    .replace(/-----BEGIN [A-Z ]+-----/g, '')
    .replace(/-----END [A-Z ]+-----/g, '')
    .replace(/\s+/g, '');
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(body, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw sfErrors.invalidPublicKey('Invalid public key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw sfErrors.invalidPublicKey('Only RSA keys are supported');
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw sfErrors.invalidPublicKey('Key must be at least 2048 bits');
  return body;
}

const IGNORED_USER_PROPS = new Set([
  'FIRST_NAME',
  'MIDDLE_NAME',
  'LAST_NAME',
  'MUST_CHANGE_PASSWORD',
  'DEFAULT_SECONDARY_ROLES',
  'MINS_TO_UNLOCK',
  'MINS_TO_BYPASS_MFA',
  'NETWORK_POLICY',
  'RSA_PUBLIC_KEY_2',
]);

function boolValue(t: Token): boolean {
  const v = literalValue(t).toUpperCase();
  if (v === 'TRUE') return true;
  if (v === 'FALSE') return false;
  throw sfErrors.invalidProperty(`invalid value [${t.text}] for parameter 'DISABLED'`);
}

/** `KEY = value` pairs of CREATE/ALTER USER, in any order, values quoted or not. */
function parseUserProps(c: Cursor): UserProps {
  const props: UserProps = {};
  while (!c.done()) {
    if (c.accept('WITH')) continue;
    const key = c.name().text.toUpperCase();
    c.op('=');
    const v = c.peek();
    if (!v) throw sfErrors.syntax(`syntax error line 1 unexpected '<EOF>'.`);
    if (v.text === '(') {
      // DEFAULT_SECONDARY_ROLES = ('ALL') and similar list values: skip the list.
      while (!c.done() && c.peek()?.text !== ')') c.i++;
      c.op(')');
      if (!IGNORED_USER_PROPS.has(key)) throw sfErrors.invalidProperty(`invalid property '${key}' for 'USER'`);
      continue;
    }
    c.i++;
    switch (key) {
      case 'TYPE':
        props.type = literalValue(v).toUpperCase();
        if (!['PERSON', 'SERVICE', 'LEGACY_SERVICE'].includes(props.type)) {
          throw sfErrors.invalidProperty(`invalid value [${v.text}] for parameter 'TYPE'`);
        }
        break;
      case 'RSA_PUBLIC_KEY':
        props.rsaPublicKey = literalValue(v) === '' ? null : normalizePublicKey(literalValue(v));
        break;
      case 'DEFAULT_ROLE':
        props.defaultRole = v.kind === 'qident' ? identName(v) : literalValue(v).toUpperCase();
        break;
      case 'DEFAULT_WAREHOUSE':
        props.defaultWarehouse = v.kind === 'qident' ? identName(v) : literalValue(v).toUpperCase();
        break;
      case 'DEFAULT_NAMESPACE':
        props.defaultNamespace = literalValue(v).toUpperCase();
        break;
      case 'DAYS_TO_EXPIRY': {
        const n = Number(literalValue(v));
        if (!Number.isFinite(n) || n < 0) throw sfErrors.invalidProperty(`invalid value [${v.text}] for parameter 'DAYS_TO_EXPIRY'`);
        props.daysToExpiry = n === 0 ? null : n;
        break;
      }
      case 'LOGIN_NAME':
        props.loginName = literalValue(v).toUpperCase();
        break;
      case 'DISPLAY_NAME':
        props.displayName = literalValue(v);
        break;
      case 'EMAIL':
        props.email = literalValue(v);
        break;
      case 'COMMENT':
        props.comment = literalValue(v);
        break;
      case 'DISABLED':
        props.disabled = boolValue(v);
        break;
      case 'QUERY_TAG':
        props.queryTag = literalValue(v);
        break;
      case 'PASSWORD':
        throw sfErrors.unsupported('The emulator supports password authentication for the admin user only; use RSA_PUBLIC_KEY.');
      default:
        if (!IGNORED_USER_PROPS.has(key)) throw sfErrors.invalidProperty(`invalid property '${key}' for 'USER'`);
    }
    c.op(',');
  }
  return props;
}

function parseCreateUser(c: Cursor): Command {
  c.expect('CREATE');
  const replace = c.accept('OR', 'REPLACE');
  c.expect('USER');
  const ifNotExists = c.accept('IF', 'NOT', 'EXISTS');
  const name = identName(c.name());
  const props = parseUserProps(c);
  return async (host, session) => {
    requireAdmin(host, session);
    if (props.type === 'SERVICE' && props.email === undefined) props.email = null;
    const existing = await host.store.getUser(name);
    if (existing && !replace) {
      if (ifNotExists) return statusResult(`${name} already exists, statement succeeded.`);
      throw sfErrors.alreadyExists(name);
    }
    if (existing && replace) {
      host.endUserSessions(name);
    }
    await host.store.createUser(name, { type: 'PERSON', ...props }, replace);
    return statusResult(`User ${name} successfully created.`);
  };
}

function parseAlterUser(c: Cursor): Command {
  c.expect('ALTER', 'USER');
  const ifExists = c.accept('IF', 'EXISTS');
  const name = identName(c.name());
  if (c.accept('ABORT', 'ALL', 'QUERIES')) {
    c.end();
    return async (host, session, queryId) => {
      requireAdmin(host, session);
      if (!(await host.store.getUser(name))) {
        if (ifExists) return statusResult('Statement executed successfully.');
        throw sfErrors.userDoesNotExist(name);
      }
      await host.abortUserQueries(name, queryId);
      return statusResult('Statement executed successfully.');
    };
  }
  let props: UserProps = {};
  if (c.accept('SET')) props = parseUserProps(c);
  else if (c.accept('UNSET')) {
    while (!c.done()) {
      const key = c.name().text.toUpperCase();
      if (key === 'RSA_PUBLIC_KEY') props.rsaPublicKey = null;
      else if (key === 'DEFAULT_ROLE') props.defaultRole = null;
      else if (key === 'DAYS_TO_EXPIRY') props.daysToExpiry = null;
      else if (key === 'COMMENT') props.comment = null;
      else if (key === 'QUERY_TAG') props.queryTag = null;
      else if (key === 'DEFAULT_WAREHOUSE') props.defaultWarehouse = null;
      else if (!IGNORED_USER_PROPS.has(key)) throw sfErrors.invalidProperty(`invalid property '${key}' for 'USER'`);
      c.op(',');
    }
  } else throw sfErrors.syntax(`syntax error line 1 unexpected '${c.peek()?.text ?? '<EOF>'}'.`);
  return async (host, session, queryId) => {
    requireAdmin(host, session);
    if (!(await host.store.getUser(name))) {
      if (ifExists) return statusResult('Statement executed successfully.');
      throw sfErrors.userDoesNotExist(name);
    }
    await host.store.alterUser(name, props);
    if (props.disabled === true) {
      // Snowflake: disabling "prevents logging in and aborts all the currently-running queries for the user".
      host.endUserSessions(name);
      await host.abortUserQueries(name, queryId);
    }
    return statusResult('Statement executed successfully.');
  };
}

function parseDescribeUser(c: Cursor): Command {
  c.i += 2;
  const name = identName(c.name());
  c.end();
  return async (host, session) => {
    requireAdmin(host, session);
    const u = await host.store.getUser(name);
    if (!u) throw sfErrors.userDoesNotExist(name);
    const props: Array<[string, string | null]> = [
      ['NAME', u.name],
      ['TYPE', u.type],
      ['LOGIN_NAME', u.loginName],
      ['DISABLED', String(u.disabled)],
      ['DEFAULT_ROLE', u.defaultRole],
      ['DAYS_TO_EXPIRY', daysLeft(u)],
      ['COMMENT', u.comment],
      ['RSA_PUBLIC_KEY', u.rsaPublicKey],
      ['RSA_PUBLIC_KEY_FP', u.rsaPublicKey ? publicKeyFingerprint(u.rsaPublicKey) : null],
    ];
    return {
      statementTypeId: STATEMENT_TYPE.show + 0x100,
      rowtype: ['property', 'value', 'default', 'description'].map((n) => column(n, 'text')),
      rowset: props.map(([k, v]) => [k, v ?? 'null', null, null]),
    };
  };
}

/** `SHA256:<base64 of sha256(SPKI DER)>`, the form in a key-pair JWT's `iss` and in DESCRIBE USER. */
export function publicKeyFingerprint(base64Der: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(base64Der, 'base64')).digest('base64')}`;
}

function daysLeft(u: UserRecord): string | null {
  if (!u.expiresAt) return null;
  return ((u.expiresAt.getTime() - Date.now()) / 86_400_000).toFixed(6);
}

// ---------------------------------------------------------------- roles and drops

function parseCreateRole(c: Cursor): Command {
  c.expect('CREATE');
  const replace = c.accept('OR', 'REPLACE');
  c.expect('ROLE');
  const ifNotExists = c.accept('IF', 'NOT', 'EXISTS');
  const name = identName(c.name());
  let comment: string | null = null;
  if (c.accept('COMMENT')) {
    c.op('=');
    comment = literalValue(c.name());
  }
  c.end();
  return async (host, session) => {
    requireAdmin(host, session);
    const existing = await host.store.getRole(name);
    if (existing) {
      if (ifNotExists) return statusResult(`${name} already exists, statement succeeded.`);
      if (!replace || existing.pgRole === null || name === PUBLIC_ROLE) throw sfErrors.alreadyExists(name);
      await host.store.dropRole(existing);
    }
    await host.store.createRole(name, comment);
    return statusResult(`Role ${name} successfully created.`);
  };
}

function parseDrop(c: Cursor): Command {
  c.expect('DROP');
  const what = c.accept('USER') ? 'USER' : (c.expect('ROLE'), 'ROLE');
  const ifExists = c.accept('IF', 'EXISTS');
  const name = identName(c.name());
  c.end();
  return async (host, session) => {
    requireAdmin(host, session);
    if (what === 'USER') {
      const dropped = await host.store.dropUser(name);
      if (!dropped) {
        if (ifExists) return statusResult('Drop statement executed successfully (' + name + ' already dropped).');
        throw sfErrors.userDoesNotExist(name);
      }
      host.endUserSessions(name);
      return statusResult(`${name} successfully dropped.`);
    }
    const role = await host.store.getRole(name);
    if (!role) {
      if (ifExists) return statusResult('Drop statement executed successfully (' + name + ' already dropped).');
      throw sfErrors.roleDoesNotExist(name);
    }
    if (role.name === ACCOUNTADMIN || role.name === PUBLIC_ROLE) {
      throw sfErrors.insufficientPrivileges('role', role.name);
    }
    await host.store.dropRole(role);
    return statusResult(`${name} successfully dropped.`);
  };
}

// ---------------------------------------------------------------- grants

const TABLE_PRIVS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES']);

async function backingRole(host: CommandHost, name: string): Promise<string | null> {
  const role = await host.store.getRole(name);
  if (!role) throw sfErrors.roleDoesNotExist(name);
  return role.pgRole;
}

function parseGrant(c: Cursor): Command {
  const revoke = c.kw() === 'REVOKE';
  c.i++;
  if (c.accept('ROLE')) {
    const role = identName(c.name());
    if (!c.accept(revoke ? 'FROM' : 'TO')) c.expect(revoke ? 'FROM' : 'TO');
    const toUser = c.accept('USER');
    if (!toUser) c.expect('ROLE');
    const grantee = identName(c.name());
    c.end();
    return async (host, session) => {
      requireAdmin(host, session);
      const roleRec = await host.store.getRole(role);
      if (!roleRec) throw sfErrors.roleDoesNotExist(role);
      if (toUser) {
        if (!(await host.store.getUser(grantee))) throw sfErrors.userDoesNotExist(grantee);
        if (revoke) await host.store.revokeRole(role, grantee);
        else await host.store.grantRole(role, grantee);
      } else {
        const target = await backingRole(host, grantee);
        if (roleRec.pgRole === null) throw sfErrors.unsupported('The emulator cannot grant ACCOUNTADMIN to a role.');
        if (target !== null) {
          await host.adminQuery(
            revoke
              ? `REVOKE ${quoteIdent(roleRec.pgRole)} FROM ${quoteIdent(target)}`
              : `GRANT ${quoteIdent(roleRec.pgRole)} TO ${quoteIdent(target)}`,
          );
        }
      }
      return statusResult('Statement executed successfully.');
    };
  }

  const privs: string[] = [];
  do {
    const p = c.name().text.toUpperCase();
    if (p === 'ALL') {
      c.accept('PRIVILEGES');
      privs.push('ALL');
    } else privs.push(p);
  } while (c.op(','));
  c.expect('ON');
  const future = c.accept('FUTURE');
  const all = future || c.accept('ALL');
  let objectType = '';
  let tableParts: Token[] = [];
  if (all) {
    const kind = c.name().text.toUpperCase();
    if (kind !== 'TABLES' && kind !== 'VIEWS') throw sfErrors.unsupported(`GRANT ON ALL ${kind} is not supported by the emulator.`);
    c.expect('IN', 'SCHEMA');
    const schema = c.qualified();
    if (identName(schema[schema.length - 1]).toUpperCase() !== 'PUBLIC') throw sfErrors.doesNotExist(identName(schema[schema.length - 1]));
    objectType = 'SCHEMA';
  } else {
    const kind = c.kw();
    if (['WAREHOUSE', 'DATABASE', 'SCHEMA', 'INTEGRATION', 'ACCOUNT'].includes(kind)) {
      // Warehouses, the database and the schema exist implicitly; usage on them needs no PostgreSQL grant.
      c.i++;
      if (kind !== 'ACCOUNT') c.qualified();
      objectType = kind;
    } else {
      if (kind === 'TABLE' || kind === 'VIEW') c.i++;
      objectType = 'TABLE';
      tableParts = c.qualified();
    }
  }
  c.expect(revoke ? 'FROM' : 'TO');
  c.accept('ROLE');
  const roleName = identName(c.name());
  c.accept('WITH', 'GRANT', 'OPTION');
  c.end();
  return async (host, session) => {
    requireAdmin(host, session);
    const pgRole = await backingRole(host, roleName);
    if (objectType !== 'TABLE' && objectType !== 'SCHEMA') return statusResult('Statement executed successfully.');
    const tablePrivs = privs.filter((p) => p === 'ALL' || TABLE_PRIVS.has(p));
    if (tablePrivs.length !== privs.length) {
      const bad = privs.find((p) => !(p === 'ALL' || TABLE_PRIVS.has(p)));
      throw sfErrors.unsupported(`Privilege ${bad} on tables is not supported by the emulator.`);
    }
    // ACCOUNTADMIN runs as the superuser and needs no grant.
    if (pgRole === null) return statusResult('Statement executed successfully.');
    const privSql = tablePrivs.includes('ALL') ? 'ALL PRIVILEGES' : tablePrivs.join(', ');
    const grantee = quoteIdent(pgRole);
    const verb = revoke ? 'REVOKE' : 'GRANT';
    const prep = revoke ? 'FROM' : 'TO';
    if (objectType === 'SCHEMA') {
      if (future) await host.adminQuery(`ALTER DEFAULT PRIVILEGES IN SCHEMA public ${verb} ${privSql} ON TABLES ${prep} ${grantee}`);
      else await host.adminQuery(`${verb} ${privSql} ON ALL TABLES IN SCHEMA public ${prep} ${grantee}`);
      return statusResult('Statement executed successfully.');
    }
    const last = tableParts[tableParts.length - 1];
    const schemaTok = tableParts.length >= 2 ? tableParts[tableParts.length - 2] : undefined;
    if (schemaTok && identName(schemaTok).toUpperCase() !== 'PUBLIC') throw sfErrors.doesNotExist(tableParts.map(identName).join('.'));
    const table = `public.${pgIdent(last)}`;
    const exists = await host.adminQuery('SELECT to_regclass($1) AS oid', [table]);
    if (exists[0]?.oid === null) throw sfErrors.doesNotExist(tableParts.map(identName).join('.'));
    await host.adminQuery(`${verb} ${privSql} ON TABLE ${table} ${prep} ${grantee}`);
    if (!revoke && (tablePrivs.includes('ALL') || tablePrivs.includes('INSERT'))) {
      // Snowflake's AUTOINCREMENT needs no separate grant; PostgreSQL's identity/serial sequences do.
      const seqs = await host.adminQuery(
        `SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname) AS seq FROM pg_class s
           JOIN pg_namespace n ON n.oid = s.relnamespace JOIN pg_depend d ON d.objid = s.oid
          WHERE s.relkind = 'S' AND d.refobjid = $1::regclass`,
        [table],
      );
      for (const s of seqs) await host.adminQuery(`GRANT USAGE ON SEQUENCE ${String(s.seq)} TO ${grantee}`);
    }
    return statusResult('Statement executed successfully.');
  };
}

// ---------------------------------------------------------------- SHOW

function likeMatcher(c: Cursor): (name: string) => boolean {
  if (!c.accept('LIKE')) return () => true;
  const pattern = literalValue(c.name());
  const re = new RegExp(
    '^' + pattern.split('').map((ch) => (ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('') + '$',
    'i',
  );
  return (name) => re.test(name);
}

function parseShow(c: Cursor): Command {
  c.expect('SHOW');
  c.accept('TERSE');
  if (c.accept('USERS')) {
    const like = likeMatcher(c);
    c.end();
    return async (host, session) => {
      const users = (await host.store.listUsers()).filter((u) => like(u.name));
      const visible = session.role === ACCOUNTADMIN ? users : users.filter((u) => u.name === session.user);
      const cols: Array<[string, 'text' | 'timestamp_ltz']> = [
        ['name', 'text'],
        ['created_on', 'timestamp_ltz'],
        ['login_name', 'text'],
        ['display_name', 'text'],
        ['email', 'text'],
        ['days_to_expiry', 'text'],
        ['comment', 'text'],
        ['disabled', 'text'],
        ['default_warehouse', 'text'],
        ['default_namespace', 'text'],
        ['default_role', 'text'],
        ['owner', 'text'],
        ['expires_at_time', 'timestamp_ltz'],
        ['has_password', 'text'],
        ['has_rsa_public_key', 'text'],
        ['type', 'text'],
      ];
      return {
        statementTypeId: STATEMENT_TYPE.show,
        rowtype: cols.map(([n, t]) => column(n, t)),
        rowset: visible.map((u) => [
          u.name,
          encodeDate(u.createdOn),
          u.loginName,
          u.displayName ?? u.name,
          u.email,
          daysLeft(u),
          u.comment,
          String(u.disabled),
          u.defaultWarehouse,
          u.defaultNamespace,
          u.defaultRole,
          ACCOUNTADMIN,
          encodeDate(u.expiresAt),
          'false',
          String(u.rsaPublicKey !== null),
          u.type,
        ]),
      };
    };
  }
  if (c.accept('ROLES')) {
    const like = likeMatcher(c);
    c.end();
    return async (host, session) => {
      const roles = (await host.store.listRoles()).filter((r) => like(r.name));
      const user = await host.store.getUser(session.user);
      const mine = await host.store.userRoles(session.user);
      const rows: Cell[][] = [];
      for (const r of roles) {
        const grantees = await host.store.roleGrantees(r.name);
        rows.push([
          encodeDate(r.createdOn),
          r.name,
          user?.defaultRole === r.name ? 'Y' : 'N',
          session.role === r.name ? 'Y' : 'N',
          mine.includes(r.name) ? 'Y' : 'N',
          String(grantees.length),
          '0',
          '0',
          r.name === ACCOUNTADMIN || r.name === PUBLIC_ROLE ? '' : ACCOUNTADMIN,
          r.comment,
        ]);
      }
      const names = ['created_on', 'name', 'is_default', 'is_current', 'is_inherited', 'assigned_to_users', 'granted_to_roles', 'granted_roles', 'owner', 'comment'];
      return {
        statementTypeId: STATEMENT_TYPE.show,
        rowtype: names.map((n) => column(n, n === 'created_on' ? 'timestamp_ltz' : 'text')),
        rowset: rows,
      };
    };
  }
  if (c.accept('GRANTS', 'TO', 'USER')) {
    const user = identName(c.name());
    c.end();
    return async (host, session) => {
      if (session.role !== ACCOUNTADMIN && session.user !== user) requireAdmin(host, session);
      if (!(await host.store.getUser(user))) throw sfErrors.userDoesNotExist(user);
      const roles = (await host.store.userRoles(user)).filter((r) => r !== PUBLIC_ROLE);
      return {
        statementTypeId: STATEMENT_TYPE.show,
        rowtype: ['created_on', 'role', 'granted_to', 'grantee_name', 'granted_by'].map((n) => column(n, n === 'created_on' ? 'timestamp_ltz' : 'text')),
        rowset: roles.map((r) => [encodeDate(new Date()), r, 'USER', user, ACCOUNTADMIN]),
      };
    };
  }
  if (c.accept('GRANTS', 'TO', 'ROLE')) {
    const role = identName(c.name());
    c.end();
    return async (host, session) => {
      requireAdmin(host, session);
      const pgRole = await backingRole(host, role);
      const rows = pgRole
        ? await host.adminQuery(
            `SELECT privilege_type, table_name FROM information_schema.role_table_grants
              WHERE grantee = $1 AND table_schema = 'public' ORDER BY table_name, privilege_type`,
            [pgRole],
          )
        : [];
      const db = session.database;
      return {
        statementTypeId: STATEMENT_TYPE.show,
        rowtype: ['created_on', 'privilege', 'granted_on', 'name', 'granted_to', 'grantee_name', 'grant_option', 'granted_by'].map((n) =>
          column(n, n === 'created_on' ? 'timestamp_ltz' : 'text'),
        ),
        rowset: rows.map((r) => {
          const t = String(r.table_name);
          return [encodeDate(new Date()), String(r.privilege_type), 'TABLE', `${db}.PUBLIC.${t === t.toLowerCase() ? t.toUpperCase() : t}`, 'ROLE', role, 'false', ACCOUNTADMIN];
        }),
      };
    };
  }
  if (c.accept('DATABASES')) {
    const like = likeMatcher(c);
    scopeClause(c);
    return async (host, session) => showDatabases(host, session, like);
  }
  if (c.accept('SCHEMAS')) {
    const like = likeMatcher(c);
    const scope = scopeClause(c);
    return async (host, session) => showSchemas(host, session, like, scope);
  }
  const views = c.accept('VIEWS');
  if (views || c.accept('TABLES')) {
    const like = likeMatcher(c);
    const scope = scopeClause(c);
    return async (host, session) => showTables(host, session, like, scope, views);
  }
  if (c.accept('COLUMNS')) {
    const like = likeMatcher(c);
    const scope = scopeClause(c);
    return async (host, session) => showColumns(host, session, like, scope);
  }
  throw new SnowflakeError('001003', `SQL compilation error:\nSHOW ${c.peek()?.text ?? ''} is not supported by the emulator.`, '42000');
}

/** `IN ACCOUNT | DATABASE [d] | SCHEMA [[d.]s] | TABLE [[d.]s.]t | [d.]s`, then the end of the statement. */
function scopeClause(c: Cursor): ShowScope {
  const scope: ShowScope = {};
  if (c.accept('IN')) {
    if (c.accept('ACCOUNT')) {
      // every database: the emulator has one
    } else if (c.accept('DATABASE')) {
      if (!c.done()) scope.database = identName(c.name());
    } else if (c.accept('TABLE') || c.accept('VIEW')) {
      const parts = c.qualified().map(identName);
      scope.table = parts[parts.length - 1];
      if (parts.length >= 2) scope.schema = parts[parts.length - 2];
      if (parts.length === 3) scope.database = parts[0];
    } else {
      c.accept('SCHEMA');
      if (!c.done()) {
        const parts = c.qualified().map(identName);
        scope.schema = parts[parts.length - 1];
        if (parts.length === 2) scope.database = parts[0];
      }
    }
  }
  c.end();
  return scope;
}

function parseDescribeTable(c: Cursor): Command {
  c.i++;
  if (!c.accept('TABLE')) c.accept('VIEW');
  const parts = c.qualified().map(identName);
  c.end();
  const table = parts[parts.length - 1];
  const schema = parts.length >= 2 ? parts[parts.length - 2] : undefined;
  const database = parts.length === 3 ? parts[0] : undefined;
  return async (host, session) => {
    if ((database !== undefined && database !== session.database) || (schema !== undefined && schema !== 'PUBLIC')) {
      throw sfErrors.doesNotExist(parts.join('.'));
    }
    return describeTable(host, session, table);
  };
}
