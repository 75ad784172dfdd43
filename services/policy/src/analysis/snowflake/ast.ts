/**
 * Typed helpers over node-sql-parser's loosely typed AST: the walker reads nodes through these instead of `any`.
 */

export type AstNode = { [key: string]: unknown };

export function isNode(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function nodeAt(node: AstNode, key: string): AstNode | undefined {
  const value = node[key];
  return isNode(value) ? value : undefined;
}

export function listAt(node: AstNode, key: string): unknown[] {
  const value = node[key];
  return Array.isArray(value) ? value : [];
}

export function stringAt(node: AstNode, key: string): string | undefined {
  const value = node[key];
  return typeof value === 'string' ? value : undefined;
}

/** The source text a node was parsed from, when the parser recorded its location. */
export function sourceOf(node: AstNode, text: string): string | undefined {
  const loc = nodeAt(node, 'loc');
  const start = loc && nodeAt(loc, 'start');
  const end = loc && nodeAt(loc, 'end');
  if (!start || !end || typeof start.offset !== 'number' || typeof end.offset !== 'number') return undefined;
  return text.slice(start.offset, end.offset);
}

/** A name that the grammar gives either as a string or as `{ type, value }` (`double_quote_string` when quoted). */
export function nameOf(value: unknown): { value: string; quoted: boolean } | undefined {
  if (typeof value === 'string') return { value, quoted: false };
  if (isNode(value) && typeof value.value === 'string') {
    return { value: value.value, quoted: value.type === 'double_quote_string' };
  }
  if (isNode(value) && isNode(value.expr)) return nameOf(value.expr);
  return undefined;
}

/** Canonical JSON of an AST: keys sorted, positions and the parser's derived table/column lists left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isNode(value)) {
    const keys = Object.keys(value)
      .filter((k) => k !== 'loc' && k !== 'tableList' && k !== 'columnList' && value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(canonicalField(value, k))}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Function names are case-insensitive in Snowflake; their spelling must not change a fingerprint. */
function canonicalField(node: AstNode, key: string): unknown {
  const value = node[key];
  if (key !== 'name' || !(node.type === 'function' || node.type === 'aggr_func' || node.type === 'window_func')) return value;
  if (typeof value === 'string') return value.toLowerCase();
  if (isNode(value) && Array.isArray(value.name)) {
    const schema = value.schema;
    return {
      ...value,
      schema: isNode(schema) && typeof schema.value === 'string' ? { ...schema, value: schema.value.toLowerCase() } : schema,
      name: value.name.map((part: unknown) =>
        isNode(part) && typeof part.value === 'string' ? { ...part, value: part.value.toLowerCase() } : part,
      ),
    };
  }
  return value;
}
