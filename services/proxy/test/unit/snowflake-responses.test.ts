import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AirlockError } from '@airlock/runtime';
import type { ColumnInfo } from '../../src/engines/engine.js';
import { toSnowflakeFailure } from '../../src/frontends/snowflake/errors.js';
import {
  defaultParameters,
  failureBody,
  inProgressBody,
  loginFailureBody,
  monitoringBody,
  statementTypeOf,
  statementTypes,
  synthesizedResult,
} from '../../src/frontends/snowflake/responses.js';
import { connectorResult, sqlApiResult, type Batch, type ResultSource, type StreamEnd } from '../../src/frontends/snowflake/result-stream.js';
import { sqlApiStatus } from '../../src/frontends/snowflake/sql-api.js';

describe('errors in Snowflake terms', () => {
  const cases: Array<{ err: unknown; code: string; sqlState: string; airlockCode: string; why: string }> = [
    {
      err: new AirlockError('policy.denied', 'Airlock refused this statement (rule "refuse-ddl"): DDL is not allowed', { requestId: 'r1' }),
      code: '003001',
      sqlState: '42501',
      airlockCode: 'policy.denied',
      why: 'a policy denial is an access-control error',
    },
    { err: new AirlockError('policy.no_rule', 'no rule allows this'), code: '003001', sqlState: '42501', airlockCode: 'policy.no_rule', why: 'no rule' },
    { err: new AirlockError('approval.denied', 'an approver denied'), code: '003001', sqlState: '42501', airlockCode: 'approval.denied', why: 'approval denied' },
    { err: new AirlockError('approval.expired', 'expired'), code: '003001', sqlState: '42501', airlockCode: 'approval.expired', why: 'approval expired' },
    { err: new AirlockError('policy.parse_error', 'cannot parse', { sqlState: '42601' }), code: '001003', sqlState: '42601', airlockCode: 'policy.parse_error', why: 'parse error' },
    { err: new AirlockError('policy.multiple_statements', 'one at a time'), code: '000008', sqlState: '0A000', airlockCode: 'policy.multiple_statements', why: 'statement count' },
    {
      err: new AirlockError('proxy.upstream_error', "SQL compilation error:\nObject 'NOPE' does not exist or not authorized.", { sqlState: '42S02', snowflakeCode: '002003' }),
      code: '002003',
      sqlState: '42S02',
      airlockCode: 'proxy.upstream_error',
      why: 'the upstream code and SQLSTATE pass through',
    },
    {
      err: new AirlockError('proxy.upstream_error', 'division by zero', { sqlState: '22012', snowflakeCode: '100051' }),
      code: '100051',
      sqlState: '22012',
      airlockCode: 'proxy.upstream_error',
      why: 'any six-digit upstream code passes through',
    },
    {
      err: new AirlockError('proxy.upstream_error', 'relation missing', { sqlState: '42P01' }),
      code: '002003',
      sqlState: '42P01',
      airlockCode: 'proxy.upstream_error',
      why: 'without an upstream code the SQLSTATE class decides',
    },
    { err: new AirlockError('proxy.statement_timeout', 'too long'), code: '000630', sqlState: '57014', airlockCode: 'proxy.statement_timeout', why: 'timeout' },
    { err: new AirlockError('proxy.row_limit', 'more than 10 rows'), code: '000603', sqlState: '54000', airlockCode: 'proxy.row_limit', why: 'row limit' },
    { err: new AirlockError('identity.expired_token', 'expired'), code: '390318', sqlState: '28P01', airlockCode: 'identity.expired_token', why: 'expired OAuth token' },
    { err: new AirlockError('identity.invalid_token', 'bad signature'), code: '390303', sqlState: '28P01', airlockCode: 'identity.invalid_token', why: 'invalid OAuth token' },
    { err: new AirlockError('identity.audience_mismatch', 'wrong aud'), code: '390303', sqlState: '28P01', airlockCode: 'identity.audience_mismatch', why: 'foreign token' },
    { err: new Error('secret connection string postgres://u:p@h'), code: '000603', sqlState: 'XX000', airlockCode: 'runtime.internal', why: 'unexpected errors say nothing' },
  ];
  for (const c of cases) {
    test(c.why, () => {
      const f = toSnowflakeFailure(c.err);
      assert.equal(f.code, c.code);
      assert.equal(f.sqlState, c.sqlState);
      assert.equal(f.airlockCode, c.airlockCode);
      if (c.err instanceof AirlockError) assert.equal(f.message, c.err.message);
      else assert.doesNotMatch(f.message, /postgres:|secret/);
    });
  }

  test('the failure body is what snowflake-sdk turns into err.code, err.sqlState and the query id', () => {
    const f = toSnowflakeFailure(new AirlockError('policy.denied', 'Airlock refused this statement (rule "x"): no', { requestId: 'req-1' }));
    assert.deepEqual(failureBody(f, 'q-1'), {
      success: false,
      code: '003001',
      message: 'Airlock refused this statement (rule "x"): no',
      data: {
        internalError: false,
        errorCode: '003001',
        age: 0,
        sqlState: '42501',
        queryId: 'q-1',
        line: -1,
        pos: -1,
        type: 'COMPILATION',
        airlockCode: 'policy.denied',
        airlockRequestId: 'req-1',
      },
      headers: null,
    });
  });

  test('a login refusal carries the OAuth next action only for OAuth codes', () => {
    const bad = loginFailureBody(toSnowflakeFailure(new AirlockError('identity.invalid_token', 'bad')));
    assert.deepEqual(bad, {
      success: false,
      code: '390303',
      message: 'bad',
      data: { nextAction: 'RETRY_LOGIN', authnMethod: 'OAUTH', signInOptions: {}, airlockCode: 'identity.invalid_token' },
      headers: null,
    });
    const unknown = loginFailureBody(toSnowflakeFailure(new AirlockError('policy.unknown_connection', 'no such')));
    assert.deepEqual(unknown['data'], { airlockCode: 'policy.unknown_connection' });
  });

  test('SQL API status codes', () => {
    assert.equal(sqlApiStatus(toSnowflakeFailure(new AirlockError('policy.denied', 'x'))), 422);
    assert.equal(sqlApiStatus(toSnowflakeFailure(new AirlockError('proxy.statement_timeout', 'x'))), 408);
    assert.equal(sqlApiStatus(toSnowflakeFailure(new AirlockError('identity.invalid_token', 'x'))), 401);
  });
});

describe('statement types', () => {
  const cases: Array<{ columns: string[] | null; tag: string | undefined; type: number }> = [
    { columns: ['ID', 'NAME'], tag: 'SELECT 2', type: statementTypes.select },
    { columns: ['number of rows inserted'], tag: 'INSERT 0 2', type: statementTypes.insert },
    { columns: ['number of rows updated', 'number of multi-joined rows updated'], tag: 'UPDATE 1', type: statementTypes.update },
    { columns: ['number of rows deleted'], tag: 'DELETE 3', type: statementTypes.delete },
    { columns: ['number of rows inserted', 'number of rows updated', 'number of rows deleted'], tag: 'MERGE 1', type: statementTypes.merge },
    { columns: null, tag: 'INSERT 0 5', type: statementTypes.insert },
    { columns: null, tag: 'BEGIN', type: statementTypes.tcl },
    { columns: null, tag: 'CREATE TABLE', type: statementTypes.ddl },
    { columns: null, tag: undefined, type: statementTypes.scl },
    { columns: ['status'], tag: 'SELECT 1', type: statementTypes.select },
  ];
  for (const c of cases) {
    test(`${JSON.stringify(c.columns)} ${c.tag ?? '(no tag)'} → 0x${c.type.toString(16)}`, () => {
      assert.equal(statementTypeOf(c.columns, c.tag), c.type);
    });
  }

  test('a statement without columns answers one row: counts for DML, a status otherwise', () => {
    const insert = synthesizedResult('INSERT 0 7');
    assert.deepEqual(insert.row, ['7']);
    assert.equal(insert.rowtype[0]!['name'], 'number of rows inserted');
    assert.equal(insert.statementTypeId, 0x3100);
    assert.deepEqual(synthesizedResult('UPDATE 4').row, ['4', '0']);
    assert.deepEqual(synthesizedResult('COMMIT').row, ['Statement executed successfully.']);
    assert.equal(synthesizedResult('COMMIT').rowtype[0]!['type'], 'text');
  });

  test('in-progress and monitoring bodies', () => {
    assert.deepEqual(inProgressBody('q', { async: false }), {
      success: true,
      code: '333333',
      message: 'Query execution in progress. Use provided query id to perform query monitoring and management.',
      data: { queryId: 'q', getResultUrl: '/queries/q/result', queryAbortsAfterSecs: 300, progressDesc: null },
    });
    assert.equal(inProgressBody('q', { async: true, message: 'held' })['code'], '333334');
    assert.equal(inProgressBody('q', { async: true, message: 'held' })['message'], 'held');
    const m = monitoringBody({ queryId: 'q', status: 'QUEUED', startTime: 1000, endTime: null, sessionId: 7, failure: null }, 4000);
    const q = (m['data'] as { queries: Array<Record<string, unknown>> }).queries[0]!;
    assert.equal(q['status'], 'QUEUED');
    assert.equal(q['totalDuration'], 3000);
    assert.deepEqual(monitoringBody(null, 0), { success: true, code: null, message: null, data: { queries: [] } });
  });

  test('the default parameters include what snowflake-sdk needs to decode every type', () => {
    const names = defaultParameters.map((p) => p.name);
    for (const n of ['TIMEZONE', 'BINARY_OUTPUT_FORMAT', 'DATE_OUTPUT_FORMAT', 'TIME_OUTPUT_FORMAT', 'TIMESTAMP_NTZ_OUTPUT_FORMAT']) assert.ok(names.includes(n), n);
  });
});

/** A statement result from a list of batches; `failAt` makes the read of that batch index throw. */
function source(columns: ColumnInfo[] | null, batches: Batch[], failAt?: number): ResultSource & { reads: number } {
  const s = {
    columns,
    first: batches[0]!,
    reads: 0,
    read: async () => {
      s.reads += 1;
      if (s.reads === failAt) throw new AirlockError('proxy.row_limit', 'the result has more than 3 rows, the limit for this connection');
      return batches[s.reads]!;
    },
  };
  return s;
}

async function collect(gen: AsyncGenerator<string>): Promise<{ text: string; chunks: number }> {
  let text = '';
  let chunks = 0;
  for await (const c of gen) {
    text += c;
    chunks += 1;
  }
  return { text, chunks };
}

const idColumn: ColumnInfo = { name: 'ID', textual: false, snowflake: { name: 'ID', type: 'fixed', precision: 38, scale: 0, nullable: false } };
const flagColumn: ColumnInfo = { name: 'FLAG', textual: false, snowflake: { name: 'FLAG', type: 'boolean', nullable: true } };
const plainColumn: ColumnInfo = { name: 'note', textual: true };
const info = { databaseName: 'DEMO', schemaName: 'PUBLIC', warehouseName: 'DEMO_WH', roleName: null };

describe('streamed connector results', () => {
  test('batches become one JSON body with counts and rowtype after the rows', async () => {
    const ends: StreamEnd[] = [];
    const src = source(
      [idColumn, plainColumn],
      [
        { rows: [['1', 'a']], done: false, tag: undefined },
        { rows: [['2', null], ['3', 'c"q']], done: false, tag: undefined },
        { rows: [], done: true, tag: 'SELECT 3' },
      ],
    );
    const { text, chunks } = await collect(connectorResult(src, { queryId: 'q1', parameters: defaultParameters, sessionInfo: info, batchRows: 2 }, async (e) => void ends.push(e)));
    const body = JSON.parse(text);
    assert.equal(body.success, true);
    assert.equal(body.code, null);
    assert.deepEqual(body.data.rowset, [['1', 'a'], ['2', null], ['3', 'c"q']]);
    assert.equal(body.data.returned, 3);
    assert.equal(body.data.total, 3);
    assert.equal(body.data.statementTypeId, 0x1000);
    assert.equal(body.data.queryId, 'q1');
    assert.equal(body.data.queryResultFormat, 'json');
    assert.equal(body.data.version, 1);
    assert.deepEqual(body.data.rowtype[0], idColumn.snowflake);
    assert.equal(body.data.rowtype[1].name, 'note');
    assert.equal(body.data.rowtype[1].type, 'text');
    assert.deepEqual(body.data.parameters, defaultParameters);
    assert.equal(body.data.finalWarehouseName, 'DEMO_WH');
    assert.equal(chunks, 4, 'opening, two row batches, tail: rows are never gathered into one string');
    assert.deepEqual(ends, [{ kind: 'succeeded', rows: 3 }]);
  });

  test('a failure after rows were sent still ends as a well-formed error body', async () => {
    const ends: StreamEnd[] = [];
    const src = source([idColumn], [{ rows: [['1'], ['2']], done: false, tag: undefined }], 1);
    const { text } = await collect(connectorResult(src, { queryId: 'q2', parameters: defaultParameters, sessionInfo: info, batchRows: 2 }, async (e) => void ends.push(e)));
    const body = JSON.parse(text);
    assert.equal(body.success, false);
    assert.equal(body.code, '000603');
    assert.equal(body.message, 'the result has more than 3 rows, the limit for this connection');
    assert.equal(body.data.sqlState, '54000');
    assert.equal(body.data.queryId, 'q2');
    assert.equal(body.data.airlockCode, 'proxy.row_limit');
    assert.equal(ends.length, 1);
    assert.equal(ends[0]!.kind, 'failed');
  });

  test('a statement with no columns answers its synthesized row', async () => {
    const src = source(null, [{ rows: [], done: true, tag: 'INSERT 0 2' }]);
    const body = JSON.parse((await collect(connectorResult(src, { queryId: 'q3', parameters: [], sessionInfo: info, batchRows: 10 }, async () => undefined))).text);
    assert.deepEqual(body.data.rowset, [['2']]);
    assert.equal(body.data.returned, 1);
    assert.equal(body.data.statementTypeId, 0x3100);
  });

  test('a consumer that stops early abandons the statement exactly once', async () => {
    const ends: StreamEnd[] = [];
    const src = source([idColumn], [{ rows: [['1']], done: false, tag: undefined }, { rows: [['2']], done: false, tag: undefined }]);
    const gen = connectorResult(src, { queryId: 'q4', parameters: [], sessionInfo: info, batchRows: 1 }, async (e) => void ends.push(e));
    await gen.next();
    await gen.next();
    await gen.return(undefined);
    assert.deepEqual(ends, [{ kind: 'abandoned' }]);
    assert.equal(src.reads, 0, 'nothing was read beyond what was sent');
  });
});

describe('streamed SQL API results', () => {
  test('jsonv2: data, numRows, rowType, booleans as true/false', async () => {
    const src = source([idColumn, flagColumn], [{ rows: [['1', '1'], ['2', '0'], ['3', null]], done: true, tag: 'SELECT 3' }]);
    const body = JSON.parse((await collect(sqlApiResult(src, { handle: 'h1', requestId: 'r1', createdOn: 5, batchRows: 10 }, async () => undefined))).text);
    assert.deepEqual(body.data, [['1', 'true'], ['2', 'false'], ['3', null]]);
    assert.equal(body.resultSetMetaData.numRows, 3);
    assert.equal(body.resultSetMetaData.format, 'jsonv2');
    assert.deepEqual(body.resultSetMetaData.rowType, [idColumn.snowflake, flagColumn.snowflake]);
    assert.equal(body.code, '090001');
    assert.equal(body.sqlState, '00000');
    assert.equal(body.statementHandle, 'h1');
    assert.equal(body.statementStatusUrl, '/api/v2/statements/h1');
    assert.equal(body.requestId, 'r1');
    assert.equal(body.stats, undefined);
  });

  test('DML answers its counts in stats', async () => {
    const counts: ColumnInfo = { name: 'number of rows updated', textual: false, snowflake: { name: 'number of rows updated', type: 'fixed' } };
    const multi: ColumnInfo = { name: 'number of multi-joined rows updated', textual: false, snowflake: { name: 'number of multi-joined rows updated', type: 'fixed' } };
    const src = source([counts, multi], [{ rows: [['4', '0']], done: true, tag: 'UPDATE 4' }]);
    const body = JSON.parse((await collect(sqlApiResult(src, { handle: 'h2', requestId: null, createdOn: 5, batchRows: 10 }, async () => undefined))).text);
    assert.deepEqual(body.stats, { numRowsUpdated: 4, numDmlDuplicates: 0 });
  });
});
