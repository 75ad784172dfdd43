/**
 * PostgreSQL statement types (parse-tree node names) Airlock runs. Anything else is refused before any rule is
 * consulted, including statements the analyser does not classify. Wrapped statements count too: `EXPLAIN EXECUTE p`
 * is refused because `ExecuteStmt` is not listed.
 *
 * Not listed, on purpose: `DO`, `LOAD`, `ALTER SYSTEM`, `CHECKPOINT`, `SECURITY LABEL`, `IMPORT FOREIGN SCHEMA`.
 * `PREPARE` and `DECLARE … CURSOR` are decided as the statement they wrap, and the proxy masks `EXECUTE` and `FETCH`
 * with that decision's plan (`EXPLAIN EXECUTE` is not decided as anything a rule allows). `DISCARD ALL` keeps the pinned settings: they are the session's start-up options.
 */
export const POSTGRES_STATEMENTS: ReadonlySet<string> = new Set([
  'SelectStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'TransactionStmt',
  'VariableSetStmt',
  'VariableShowStmt',
  'ExplainStmt',
  'CopyStmt',
  'CallStmt',
  'GrantStmt',
  'GrantRoleStmt',
  'AlterDefaultPrivilegesStmt',
  'RenameStmt',
  'TruncateStmt',
  'CommentStmt',
  'IndexStmt',
  'ViewStmt',
  'RuleStmt',
  'DefineStmt',
  'CompositeTypeStmt',
  'CreateTableAsStmt',
  'RefreshMatViewStmt',
  'ReassignOwnedStmt',
  'VacuumStmt',
  'ClusterStmt',
  'ReindexStmt',
  'LockStmt',
  'ListenStmt',
  'UnlistenStmt',
  'NotifyStmt',
  'DiscardStmt',
  'DeallocateStmt',
  'ClosePortalStmt',
  // decided as the statement they prepare or declare; what EXECUTE and FETCH return is masked with that plan
  'PrepareStmt',
  'ExecuteStmt',
  'DeclareCursorStmt',
  'FetchStmt',
  'ConstraintsSetStmt',
  // the deny list names these with their own reason; listed so that its message is the one the agent sees
  'DoStmt',
  'LoadStmt',
  'AlterSystemStmt',
]);

/** `Create*`, `Alter*` and `Drop*` statements are DDL, allowed as statement types (the rules decide on `ddl`). */
export function isDdlStatement(type: string): boolean {
  return /^(Create|Alter|Drop)/.test(type) && type !== 'CreateTableAsStmt';
}
