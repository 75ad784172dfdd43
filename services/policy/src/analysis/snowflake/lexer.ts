/**
 * A small Snowflake tokenizer. node-sql-parser drops the quoting of column names and aliases, and cannot read several
 * commands the guardrails must still classify, so the analysis needs its own view of the raw tokens: to split a text
 * into statements, to tell `"Ssn"` from `ssn`, and to classify what the parser rejects.
 */

export type TokenType = 'word' | 'quoted' | 'string' | 'number' | 'punct';

export interface Token {
  type: TokenType;
  /** the token's value: a word as written, a quoted identifier or string without its quotes */
  value: string;
  start: number;
  end: number;
}

/** An identifier as written, and whether it was double-quoted (quoted names keep their case in Snowflake). */
export interface Ident {
  value: string;
  quoted: boolean;
}

/** Snowflake folds unquoted identifiers to upper case and keeps quoted ones exactly as written. */
export function fold(ident: Ident): string {
  return ident.quoted ? ident.value : ident.value.toUpperCase();
}

function isWordStart(c: string): boolean {
  return /[A-Za-z_\u0080-\uffff]/.test(c);
}

function isWordPart(c: string): boolean {
  return /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

/** Tokenizes `text`, skipping whitespace and comments (`--`, `//`, `/* *\/`). An unterminated quote runs to the end. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const next = text[i + 1] ?? '';
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if ((c === '-' && next === '-') || (c === '/' && next === '/')) {
      while (i < n && text[i] !== '\n') i += 1;
      continue;
    }
    if (c === '/' && next === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
      continue;
    }
    const start = i;
    if (c === "'") {
      let value = '';
      i += 1;
      while (i < n) {
        if (text[i] === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (text[i] === "'" && text[i + 1] === "'") {
          value += "'";
          i += 2;
        } else if (text[i] === "'") {
          i += 1;
          break;
        } else {
          value += text[i];
          i += 1;
        }
      }
      tokens.push({ type: 'string', value, start, end: i });
      continue;
    }
    if (c === '$' && next === '$') {
      const close = text.indexOf('$$', i + 2);
      const end = close < 0 ? n : close + 2;
      tokens.push({ type: 'string', value: text.slice(i + 2, close < 0 ? n : close), start, end });
      i = end;
      continue;
    }
    if (c === '"') {
      let value = '';
      i += 1;
      while (i < n) {
        if (text[i] === '"' && text[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (text[i] === '"') {
          i += 1;
          break;
        } else {
          value += text[i];
          i += 1;
        }
      }
      tokens.push({ type: 'quoted', value, start, end: i });
      continue;
    }
    if (isWordStart(c)) {
      while (i < n && isWordPart(text[i])) i += 1;
      tokens.push({ type: 'word', value: text.slice(start, i), start, end: i });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(next))) {
      while (i < n && /[0-9.eE]/.test(text[i])) i += 1;
      tokens.push({ type: 'number', value: text.slice(start, i), start, end: i });
      continue;
    }
    tokens.push({ type: 'punct', value: c, start, end: i + 1 });
    i += 1;
  }
  return tokens;
}

/** One statement of a text: its source span and its tokens. */
export interface StatementText {
  text: string;
  /** where the statement starts in the whole text */
  offset: number;
  tokens: Token[];
}

/** Splits a text at top-level semicolons (not inside strings, quoted names or comments); empty statements are dropped. */
export function splitStatements(text: string): StatementText[] {
  const tokens = tokenize(text);
  const out: StatementText[] = [];
  let current: Token[] = [];
  const flush = (end: number): void => {
    if (current.length > 0) {
      const base = current[0].start;
      const slice = text.slice(base, end).trim();
      out.push({
        text: slice,
        offset: base,
        tokens: current.map((t) => ({ ...t, start: t.start - base, end: t.end - base })),
      });
    }
    current = [];
  };
  for (const token of tokens) {
    if (token.type === 'punct' && token.value === ';') {
      flush(token.start);
      continue;
    }
    current.push(token);
  }
  flush(text.length);
  return out;
}

/** Upper-cased value of a word token, or '' for anything else: keyword tests read better this way. */
export function keyword(token: Token | undefined): string {
  return token !== undefined && token.type === 'word' ? token.value.toUpperCase() : '';
}

/**
 * The dotted identifier chain at the start of `text` (`"a"."Email"`, `db.s.t`), stopping at the first token that is not
 * an identifier or a dot; used to recover the quoting the parser drops.
 */
export function leadingIdents(text: string): Ident[] {
  const idents: Ident[] = [];
  const tokens = tokenize(text);
  for (let i = 0; i < tokens.length; i += 1) {
    const t = tokens[i];
    if (t.type !== 'word' && t.type !== 'quoted') break;
    idents.push({ value: t.value, quoted: t.type === 'quoted' });
    if (!(tokens[i + 1]?.type === 'punct' && tokens[i + 1]?.value === '.')) break;
    i += 1;
  }
  return idents;
}

/** Whether the last token of `text` is a double-quoted identifier (an alias written `AS "Mixed"`). */
export function endsWithQuotedIdent(text: string): boolean {
  const tokens = tokenize(text);
  return tokens.length > 0 && tokens[tokens.length - 1].type === 'quoted';
}

/**
 * Upper-cases `text` outside double-quoted names: how Snowflake names an unaliased expression column (`upper(ssn)` is
 * returned as `UPPER(SSN)`).
 */
export function snowflakeExpressionName(text: string): string {
  let out = '';
  let quoted = false;
  for (const c of text.trim()) {
    if (c === '"') quoted = !quoted;
    out += quoted || c === '"' ? c : c.toUpperCase();
  }
  return out;
}
