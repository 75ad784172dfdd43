/**
 * Statement-level commands and called functions read from Snowflake tokens. The guardrails need them even for text
 * that node-sql-parser cannot read (`PUT`, `GET`, `USE SECONDARY ROLES`, scripting), so they come from the lexer.
 */
import { keyword, splitStatements, type Token } from './snowflake/lexer.js';

/** Words between CREATE and the object type (`CREATE OR REPLACE TEMPORARY STAGE`). */
const CREATE_MODIFIERS: ReadonlySet<string> = new Set(['OR', 'REPLACE', 'TEMPORARY', 'TEMP', 'TRANSIENT', 'VOLATILE', 'LOCAL', 'GLOBAL', 'SECURE', 'RECURSIVE']);

function commandOf(tokens: readonly Token[]): string[] {
  const w = (i: number): string => keyword(tokens[i]).toLowerCase();
  switch (w(0)) {
    case 'use':
      return w(1) === 'secondary' ? ['use secondary roles'] : [`use ${w(1) || 'database'}`];
    case 'alter':
    case 'execute':
    case 'copy':
    case 'show':
    case 'describe':
    case 'desc':
      return [`${w(0)} ${w(1)}`.trim()];
    case 'create': {
      let i = 1;
      while (CREATE_MODIFIERS.has(keyword(tokens[i]))) i += 1;
      // both `create storage` and `create storage integration`, so a deny pattern can name either
      const one = `create ${w(i)}`.trim();
      return w(i + 1) !== '' && w(i + 1) !== 'if' ? [one, `${one} ${w(i + 1)}`] : [one];
    }
    case 'rm':
      return ['remove'];
    case 'ls':
      return ['list'];
    case '':
      return [];
    default:
      return [w(0)];
  }
}

/** Commands of every statement, lower case: `use role`, `use secondary roles`, `alter session`, `copy into`, `put`, … */
export function snowflakeCommands(sql: string): string[] {
  return splitStatements(sql).flatMap((s) => commandOf(s.tokens));
}

/** Every `name(` or `a.b.name(` in the text, lower case; catches functions even where the parser gave up. */
export function lexicalFunctions(sql: string): string[] {
  const out = new Set<string>();
  for (const s of splitStatements(sql)) {
    const t = s.tokens;
    for (let i = 1; i < t.length; i++) {
      if (t[i].type !== 'punct' || t[i].value !== '(') continue;
      const name = t[i - 1];
      if (name.type !== 'word' && name.type !== 'quoted') continue;
      const parts = [name.value];
      for (let j = i - 2; j >= 1 && t[j].value === '.' && (t[j - 1].type === 'word' || t[j - 1].type === 'quoted'); j -= 2) {
        parts.unshift(t[j - 1].value);
      }
      out.add(parts.join('.').toLowerCase());
    }
  }
  return [...out];
}
