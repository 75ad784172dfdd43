/**
 * PostgreSQL statement types (parse-tree node names) Airlock runs. Anything else is refused before any rule is
 * consulted, including statements the analyser does not classify. Wrapped statements count too: `EXPLAIN EXECUTE p`
 * is refused because `ExecuteStmt` is not listed.
 *
 * Not listed, on purpose: `PREPARE`/`EXECUTE`/`DECLARE … CURSOR`/`FETCH`/`MOVE` (their rows come from a statement
 * decided earlier, so no masking plan follows them), `DO`, `LOAD`, `ALTER SYSTEM`, `CHECKPOINT`, `SECURITY LABEL`,
 * `IMPORT FOREIGN SCHEMA`. `DISCARD ALL` keeps the pinned settings: they are the session's start-up options.
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
