import type { StatementKind } from '@airlock/contracts';
import { keyword, type Token } from './lexer.js';

/** What the first tokens of a statement say about it when the parser could not read it. */
export interface KeywordClass {
  kind: StatementKind;
  /** lower-cased procedure name for `CALL` */
  functions: string[];
  /** set for `EXPLAIN`: the offset where the explained statement starts, so its tables can still be analysed */
  explainedFrom?: number;
}

const TRANSACTION_TAIL = new Set(['', 'TRANSACTION', 'WORK', 'NAME']);

/**
 * Classifies Snowflake commands that node-sql-parser's Snowflake grammar rejects but that return no table data, so that
 * the policy can refuse or allow them by kind rather than answer "cannot parse". Anything that can read or write table
 * rows (DML, DDL the parser rejects, scripting blocks) is deliberately not classified here: it must fail closed.
 */
export function classifyByKeywords(tokens: Token[]): KeywordClass | undefined {
  const first = keyword(tokens[0]);
  const second = keyword(tokens[1]);
  const none: string[] = [];
  switch (first) {
    case 'USE':
    case 'UNSET':
      return { kind: 'set', functions: none };
    case 'ALTER':
      return second === 'SESSION' ? { kind: 'set', functions: none } : undefined;
    case 'SHOW':
    case 'DESCRIBE':
    case 'DESC':
    case 'LIST':
    case 'LS':
      return { kind: 'show', functions: none };
    case 'PUT':
    case 'GET':
    case 'REMOVE':
    case 'RM':
    case 'COPY':
      return { kind: 'copy', functions: none };
    case 'CALL':
      return { kind: 'call', functions: callee(tokens) };
    case 'EXECUTE':
      // EXECUTE IMMEDIATE runs a string or block as SQL the analysis never sees: classified as a call so policy can refuse it.
      return second === 'IMMEDIATE' || second === 'TASK' ? { kind: 'call', functions: none } : undefined;
    case 'GRANT':
    case 'REVOKE':
      return { kind: 'grant', functions: none };
    case 'COMMIT':
    case 'ROLLBACK':
      return tokens.length <= 2 ? { kind: 'transaction', functions: none } : undefined;
    case 'BEGIN':
    case 'START':
      // A bare BEGIN starts a transaction; BEGIN followed by statements is a Snowflake Scripting block, which must fail closed.
      if (first === 'START' && second !== 'TRANSACTION') return undefined;
      return TRANSACTION_TAIL.has(second) && tokens.length <= 4 ? { kind: 'transaction', functions: none } : undefined;
    case 'EXPLAIN': {
      let i = 1;
      if (keyword(tokens[i]) === 'USING') i += 2;
      return { kind: 'explain', functions: none, explainedFrom: tokens[i]?.start };
    }
    default:
      return undefined;
  }
}

/** `CALL db.schema.proc(…)` → `db.schema.proc`, lower-cased like every function name in an analysis. */
function callee(tokens: Token[]): string[] {
  const parts: string[] = [];
  for (let i = 1; i < tokens.length; i += 2) {
    const t = tokens[i];
    if (t.type !== 'word' && t.type !== 'quoted') break;
    parts.push(t.value.toLowerCase());
    if (tokens[i + 1]?.value !== '.') break;
  }
  return parts.length > 0 ? [parts.join('.')] : [];
}

/** The kind a statement would have, from its first keyword: carried by parse errors so a refusal can name it. */
export function kindHint(tokens: Token[]): StatementKind | undefined {
  switch (keyword(tokens[0])) {
    case 'SELECT':
    case 'WITH':
      return 'select';
    case 'INSERT':
      return 'insert';
    case 'UPDATE':
      return 'update';
    case 'DELETE':
      return 'delete';
    case 'MERGE':
      return 'merge';
    case 'CREATE':
    case 'ALTER':
    case 'DROP':
    case 'UNDROP':
    case 'TRUNCATE':
    case 'COMMENT':
      return 'ddl';
    default:
      return classifyByKeywords(tokens)?.kind;
  }
}
