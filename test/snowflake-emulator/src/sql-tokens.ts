/**
 * A lexer for the Snowflake SQL the emulator receives. It keeps every character (whitespace and comments included)
 * so that a rewrite is "join the tokens back together" and strings are never touched by the translator.
 */
export type TokenKind = 'ident' | 'qident' | 'string' | 'number' | 'param' | 'op' | 'ws';

export interface Token {
  kind: TokenKind;
  text: string;
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_$]/;

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const start = i;
    if (/\s/.test(c)) {
      while (i < n && /\s/.test(sql[i])) i++;
      out.push({ kind: 'ws', text: sql.slice(start, i) });
    } else if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '/')) {
      while (i < n && sql[i] !== '\n') i++;
      // `//` is a Snowflake comment but not a PostgreSQL one: hand PostgreSQL a space instead.
      out.push({ kind: 'ws', text: c === '/' ? ' ' : sql.slice(start, i) });
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      out.push({ kind: 'ws', text: sql.slice(start, i) });
    } else if (c === "'") {
      i++;
      while (i < n) {
        if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") {
          i++;
          break;
        } else i++;
      }
      out.push({ kind: 'string', text: sql.slice(start, i) });
    } else if (c === '$' && sql[i + 1] === '$') {
      const end = sql.indexOf('$$', i + 2);
      i = end < 0 ? n : end + 2;
      // Snowflake's $$…$$ is a plain string literal; re-quote it the standard way so PostgreSQL reads it the same.
      const body = sql.slice(start + 2, end < 0 ? n : end);
      out.push({ kind: 'string', text: `'${body.replace(/'/g, "''")}'` });
    } else if (c === '"') {
      i++;
      while (i < n) {
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') {
          i++;
          break;
        } else i++;
      }
      out.push({ kind: 'qident', text: sql.slice(start, i) });
    } else if (IDENT_START.test(c)) {
      while (i < n && IDENT_PART.test(sql[i])) i++;
      out.push({ kind: 'ident', text: sql.slice(start, i) });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      while (i < n && /[0-9.]/.test(sql[i])) i++;
      if (i < n && /[eE]/.test(sql[i]) && /[-+0-9]/.test(sql[i + 1] ?? '')) {
        i += 2;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
      out.push({ kind: 'number', text: sql.slice(start, i) });
    } else if (c === '?') {
      i++;
      out.push({ kind: 'param', text: '?' });
    } else if (c === ':' && /[0-9]/.test(sql[i + 1] ?? '')) {
      i++;
      while (i < n && /[0-9]/.test(sql[i])) i++;
      out.push({ kind: 'param', text: sql.slice(start, i) });
    } else {
      const two = sql.slice(i, i + 2);
      if (['::', '<=', '>=', '<>', '!=', '||', '=>', '->'].includes(two)) i += 2;
      else i++;
      out.push({ kind: 'op', text: sql.slice(start, i) });
    }
  }
  return out;
}

/** Tokens without whitespace and comments, for keyword matching. */
export function significant(tokens: Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'ws');
}

/** The upper-cased text of an unquoted word, or '' for anything else; handy for keyword tests. */
export function kw(t: Token | undefined): string {
  return t && t.kind === 'ident' ? t.text.toUpperCase() : '';
}

/**
 * Snowflake's identifier resolution: unquoted names are upper-cased, quoted names are kept as written.
 * Strings are accepted too because Snowflake allows `CREATE USER 'x'`-style names in a few places.
 */
export function identName(t: Token): string {
  if (t.kind === 'qident') return t.text.slice(1, -1).replace(/""/g, '"');
  if (t.kind === 'string') return unquoteString(t.text);
  return t.text.toUpperCase();
}

export function unquoteString(text: string): string {
  return text.slice(1, -1).replace(/''/g, "'");
}

/** PostgreSQL's identifier quoting. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal, for the few places where the emulator writes literals into PostgreSQL DDL. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The PostgreSQL spelling of a Snowflake identifier token: unquoted names fold to lower case there, and so does a quoted
 * name without lower-case letters (`"CUSTOMERS"` is the table created as `customers`, exactly as in Snowflake). A quoted
 * name with lower-case letters stays as written.
 */
export function pgIdent(t: Token): string {
  if (t.kind === 'qident') {
    const name = identName(t);
    return name === name.toUpperCase() ? quoteIdent(name.toLowerCase()) : t.text;
  }
  return quoteIdent(t.text.toLowerCase());
}
