import { Readable } from 'node:stream';
import type { ColumnInfo } from '../../engines/engine.js';
import { toSnowflakeFailure, type SnowflakeFailure } from './errors.js';
import { failureData, rowtypeOf, statementTypeOf, statementTypes, synthesizedResult, type Parameter, type SessionInfo } from './responses.js';

export interface Batch {
  rows: Array<Array<string | null>>;
  done: boolean;
  tag: string | undefined;
}

/** A statement whose first batch has been read: the rest is pulled as the client's socket drains. */
export interface ResultSource {
  columns: ColumnInfo[] | null;
  first: Batch;
  read(max: number): Promise<Batch>;
}

/** How a stream ended; `abandoned` when the client went away before the end (the stream was destroyed). */
export type StreamEnd = { kind: 'succeeded'; rows: number } | { kind: 'failed'; error: unknown; failure: SnowflakeFailure } | { kind: 'abandoned' };

const json = (v: unknown): string => JSON.stringify(v);

function rowsText(rows: Array<Array<string | null>>, first: boolean): string {
  let out = '';
  for (let i = 0; i < rows.length; i++) out += (first && i === 0 ? '' : ',') + json(rows[i]);
  return out;
}

const JSON_TYPES = new Set(['variant', 'object', 'array']);

/**
 * A masked cell must still parse as its column's type, or the unmodified driver throws inside the client (snowflake-sdk
 * JSON-parses every VARIANT, OBJECT and ARRAY cell). Non-text columns are masked to NULL by the proxy core; a masked or
 * detector-rewritten cell of a semi-structured column that is no longer JSON becomes, for VARIANT, the JSON string of
 * the masked text (`"[REDACTED]"`, a valid VARIANT holding a string), and for OBJECT and ARRAY, NULL (a string is not
 * an object). Cells the upstream sent unchanged are JSON already and pass untouched. Undefined when no column needs it.
 */
export function typedCells(columns: ColumnInfo[] | null): ((row: Array<string | null>) => Array<string | null>) | undefined {
  if (!columns) return undefined;
  const fixes = columns
    .map((c, i) => ({ i, type: String(rowtypeOf(c)['type'] ?? '').toLowerCase() }))
    .filter((c) => JSON_TYPES.has(c.type));
  if (fixes.length === 0) return undefined;
  return (row) => {
    let out = row;
    for (const { i, type } of fixes) {
      const v = row[i];
      if (v === null || v === undefined || isJson(v)) continue;
      if (out === row) out = row.slice();
      out[i] = type === 'variant' ? JSON.stringify(v) : null;
    }
    return out;
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pulls every batch once, calls `end` exactly once (also when the consumer stops early), and yields JSON text.
 * `rowset` is written first and everything that depends on the whole result (counts, statement type, the rowtype of
 * a statement that returned no columns, success or failure) after it, so nothing but one batch is ever held.
 */
async function* pull(
  source: ResultSource,
  batchRows: number,
  end: (e: StreamEnd) => Promise<void>,
  parts: {
    open: string;
    row?: (row: Array<string | null>) => Array<string | null>;
    success: (r: { count: number; bytes: number; tag: string | undefined }) => string;
    failure: (f: SnowflakeFailure, count: number) => string;
  },
): AsyncGenerator<string> {
  let ended = false;
  let count = 0;
  let bytes = 0;
  try {
    yield parts.open;
    let batch = source.first;
    for (;;) {
      if (batch.rows.length > 0) {
        const rows = parts.row ? batch.rows.map(parts.row) : batch.rows;
        const text = rowsText(rows, count === 0);
        bytes += text.length;
        count += rows.length;
        yield text;
      }
      if (batch.done) break;
      batch = await source.read(batchRows);
    }
    const tail = parts.success({ count, bytes, tag: batch.tag });
    ended = true;
    await end({ kind: 'succeeded', rows: count });
    yield tail;
  } catch (err) {
    if (ended) throw err;
    const f = toSnowflakeFailure(err);
    ended = true;
    await end({ kind: 'failed', error: err, failure: f });
    yield parts.failure(f, count);
  } finally {
    if (!ended) await end({ kind: 'abandoned' });
  }
}

/**
 * The HTTP body of a result: a result whose first batch was its last is already whole in memory, so it goes as one
 * text with its length, in one write (a point query costs no chunked framing and no write per part); a longer one
 * streams, a batch at a time as the client's socket drains.
 */
export async function resultBody(source: ResultSource, parts: AsyncGenerator<string>): Promise<string | Readable> {
  if (!source.first.done) return Readable.from(parts, { objectMode: false, highWaterMark: 64 * 1024 });
  let text = '';
  for await (const part of parts) text += part;
  return text;
}

/**
 * The rowtype and statement type of a finished result; a statement without columns (DML, DDL) gets the one
 * synthesized row Snowflake answers with, appended after the `count` rows already sent.
 */
function resultShape(
  source: ResultSource,
  names: string[] | null,
  tag: string | undefined,
  count: number,
): { rowtype: unknown[]; statementTypeId: number; extra: string; rows: number; synthesized?: Array<string | null> } {
  if (source.columns) return { rowtype: source.columns.map(rowtypeOf), statementTypeId: statementTypeOf(names, tag), extra: '', rows: count };
  const s = synthesizedResult(tag);
  return { rowtype: s.rowtype, statementTypeId: s.statementTypeId, extra: (count > 0 ? ',' : '') + json(s.row), rows: count + 1, synthesized: s.row };
}

/**
 * The connector protocol's JSON result (`rowset` of strings, `rowtype`, `returned`, `statementTypeId`, …) as a
 * stream of text. A failure after rows were sent still ends as a well-formed `success:false` body.
 */
export function connectorResult(
  source: ResultSource,
  context: { queryId: string; parameters: readonly Parameter[]; sessionInfo: SessionInfo; batchRows: number },
  end: (e: StreamEnd) => Promise<void>,
): AsyncGenerator<string> {
  const names = source.columns?.map((c) => c.name) ?? null;
  const common = `"queryId":${json(context.queryId)},"queryResultFormat":"json","version":1,"parameters":${json(context.parameters)}`;
  const typed = typedCells(source.columns);
  return pull(source, context.batchRows, end, {
    open: '{"data":{"rowset":[',
    ...(typed ? { row: typed } : {}),
    success: ({ count, tag }) => {
      const { rowtype, statementTypeId, extra, rows: returned } = resultShape(source, names, tag, count);
      const info = context.sessionInfo;
      return (
        `${extra}],"rowtype":${json(rowtype)},"total":${returned},"returned":${returned},"statementTypeId":${statementTypeId},${common},` +
        `"finalDatabaseName":${json(info.databaseName)},"finalSchemaName":${json(info.schemaName)},` +
        `"finalWarehouseName":${json(info.warehouseName)},"finalRoleName":${json(info.roleName)}},` +
        `"success":true,"code":null,"message":null}`
      );
    },
    failure: (f, count) =>
      `],"rowtype":[],"total":${count},"returned":${count},${common},${json(failureData(f, context.queryId)).slice(1, -1)}},` +
      `"success":false,"code":${json(f.code)},"message":${json(f.message)},"headers":null}`,
  });
}

const DML_STATS: Record<number, string[]> = {
  [statementTypes.insert]: ['numRowsInserted'],
  [statementTypes.update]: ['numRowsUpdated', 'numDmlDuplicates'],
  [statementTypes.delete]: ['numRowsDeleted'],
  [statementTypes.merge]: ['numRowsInserted', 'numRowsUpdated', 'numRowsDeleted'],
};

/** The SQL API renders BOOLEAN as "true"/"false"; the connector protocol's "1"/"0" is converted per column. */
function sqlApiRowMapper(columns: ColumnInfo[] | null): ((row: Array<string | null>) => Array<string | null>) | undefined {
  if (!columns) return undefined;
  const booleans = columns.map((c, i) => (String(rowtypeOf(c)['type']).toLowerCase() === 'boolean' ? i : -1)).filter((i) => i >= 0);
  if (booleans.length === 0) return undefined;
  return (row) => {
    const out = row.slice();
    for (const i of booleans) {
      const v = out[i];
      if (v !== null && v !== undefined) out[i] = v === '1' || v.toLowerCase() === 'true' ? 'true' : 'false';
    }
    return out;
  };
}

/**
 * The SQL API's ResultSet (`data`, `resultSetMetaData` with `numRows`, `rowType` and one partition, `stats` for DML)
 * as a stream of text. The HTTP status (200) is sent before the rows: a failure after that still ends as a
 * well-formed body whose `code`, `sqlState` and `message` carry the error.
 */
export function sqlApiResult(
  source: ResultSource,
  context: { handle: string; requestId: string | null; createdOn: number; batchRows: number },
  end: (e: StreamEnd) => Promise<void>,
): AsyncGenerator<string> {
  const names = source.columns?.map((c) => c.name) ?? null;
  const statusUrl = `/api/v2/statements/${context.handle}`;
  const common = `"statementHandle":${json(context.handle)},"statementStatusUrl":${json(statusUrl)},"requestId":${json(context.requestId)},"createdOn":${context.createdOn}`;
  const booleans = sqlApiRowMapper(source.columns);
  const typed = typedCells(source.columns);
  const mapper = booleans && typed ? (row: Array<string | null>) => booleans(typed(row)) : (booleans ?? typed);
  let last: Array<string | null> | null = null;
  return pull(source, context.batchRows, end, {
    open: '{"data":[',
    row: (row) => {
      last = row;
      return mapper ? mapper(row) : row;
    },
    success: ({ count, bytes, tag }) => {
      const { rowtype, statementTypeId, extra, rows: numRows, synthesized } = resultShape(source, names, tag, count);
      if (synthesized) last = synthesized;
      const statNames = DML_STATS[statementTypeId];
      const stats = statNames && last ? `,"stats":${json(Object.fromEntries(statNames.map((n, i) => [n, Number(last![i] ?? 0)])))}` : '';
      const meta = { numRows, format: 'jsonv2', rowType: rowtype, partitionInfo: [{ rowCount: numRows, uncompressedSize: bytes }] };
      return (
        `${extra}],"resultSetMetaData":${json(meta)},"code":"090001","sqlState":"00000","message":"Statement executed successfully.",` +
        `${common}${stats}}`
      );
    },
    failure: (f) => `],"code":${json(f.code)},"sqlState":${json(f.sqlState)},"message":${json(f.message)},${common}}`,
  });
}
