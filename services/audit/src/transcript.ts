import type { SessionDetail, StatementRecord } from './sessions.js';

/**
 * The session as a timed transcript, one line per statement followed by its recorded (masked) result:
 * `+0.012s  agent-1@demo  SELECT …  → allow (rule analysts-read) → SELECT 5 rows, 3 masked cells`.
 * Pure: the CLI and the HTTP replay route print the same text.
 */
export function formatTranscript(session: SessionDetail): string {
  const who = `${session.principal.subject}@${session.connection}`;
  const lines = [
    `session ${session.sessionId}: ${session.principal.subject} (${session.principal.groups.join(', ') || 'no groups'}) on ${session.connection} via ${session.frontend}${session.client ? ` from ${session.client}` : ''}, opened ${session.openedAt}`,
  ];
  for (const s of session.statements) {
    lines.push(`${offset(s.offsetMs)}  ${who}  ${oneLine(s.sql ?? '(statement text not recorded)')}  → ${decision(s)} → ${outcome(s)}`);
    if (s.result && s.result.columns.length > 0) {
      lines.push(...table(s.result.columns, s.result.rows).map((l) => `    ${l}`));
      if (s.result.truncated) lines.push(`    (recording truncated: ${s.result.rows.length} of ${s.rows ?? '?'} rows kept)`);
    }
  }
  if (session.closedAt) {
    const ms = Date.parse(session.closedAt) - Date.parse(session.openedAt);
    lines.push(`${offset(ms)}  ${who}  session closed (${session.closeReason ?? 'no reason'}), ${session.statements.length} ${plural(session.statements.length, 'statement')}`);
  } else {
    lines.push(`(session still open or its end was not recorded)`);
  }
  return `${lines.join('\n')}\n`;
}

function offset(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(3)}s`;
}

function oneLine(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function decision(s: StatementRecord): string {
  if (!s.decision) return 'no decision recorded';
  const rule = s.decision.rule ? ` (rule ${s.decision.rule})` : ' (default)';
  return `${s.decision.outcome}${rule}${s.approvalId ? ` [approval ${s.approvalId}]` : ''}`;
}

function outcome(s: StatementRecord): string {
  const ms = s.durationMs === undefined ? '' : ` in ${Math.round(s.durationMs)} ms`;
  if (s.outcome === 'failed') {
    const e = s.error;
    return `failed ${e?.sqlState ?? ''} ${e?.code ?? ''}: ${oneLine(e?.message ?? '')}${ms}`;
  }
  if (s.outcome === 'running') return 'no outcome recorded';
  const verb = (s.command ?? '').split(' ')[0] || 'OK';
  const rows = s.rows ?? 0;
  const masked = s.result ? `, ${s.maskedCells ?? 0} masked ${plural(s.maskedCells ?? 0, 'cell')}` : '';
  return `${verb} ${rows} ${plural(rows, 'row')}${masked}${ms}`;
}

const maxWidth = 60;

function cell(v: string | null): string {
  if (v === null) return 'NULL';
  const flat = v.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
  return flat.length > maxWidth ? `${flat.slice(0, maxWidth - 1)}…` : flat;
}

function table(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | null>>): string[] {
  const cells = rows.map((r) => columns.map((_, i) => cell(r[i] ?? null)));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join(' | ').trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)];
}
