import { html, type Html } from './html.js';

const keywords = new Set(
  (
    'select from where and or not insert into values update set delete merge using join left right inner outer full cross on as ' +
    'group by order having limit offset union all distinct case when then else end returning with create alter drop table grant ' +
    'revoke truncate begin commit rollback in is null like ilike between exists asc desc true false copy call explain'
  ).split(' '),
);

/** Single-quoted strings, double-quoted identifiers, comments, numbers, words, and everything else one character at a time. */
const token = /('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)|(\s+)|([\s\S])/g;

/**
 * A small, safe SQL highlighter: it only wraps tokens in spans with a class; every piece of text goes through the
 * escaping template, so a statement can never inject markup.
 */
export function highlightSql(sql: string): Html {
  const parts: Html[] = [];
  for (const m of sql.matchAll(token)) {
    const [text, str, ident, comment, num, word] = m;
    if (str !== undefined) parts.push(html`<span class="s">${text}</span>`);
    else if (ident !== undefined) parts.push(html`<span class="i">${text}</span>`);
    else if (comment !== undefined) parts.push(html`<span class="c">${text}</span>`);
    else if (num !== undefined) parts.push(html`<span class="n">${text}</span>`);
    else if (word !== undefined && keywords.has(word.toLowerCase())) parts.push(html`<span class="k">${text}</span>`);
    else parts.push(html`${text}`);
  }
  return html`<code class="sql">${parts}</code>`;
}
