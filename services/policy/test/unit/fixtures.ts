import type { MaskAction } from '@airlock/contracts';
import { staticCatalog } from '../../src/analysis/index.js';
import type { MaskingRule } from '../../src/masking-plan.js';

/** The demo database as the policy service sees it. */
export const demoCatalog = staticCatalog({
  'public.customers': ['id', 'name', 'email', 'phone', 'card_number', 'ssn', 'notes'],
  'public.orders': ['id', 'customer_id', 'total', 'created_at'],
});

function rule(column: string, action: MaskAction): MaskingRule {
  return { name: `customers-${column}`, connections: ['demo', 'warehouse'], schema: 'public', table: 'customers', column, action, exemptGroups: ['pii-readers'] };
}

/** The demo masking rules. */
export const demoRules: MaskingRule[] = [
  rule('email', { kind: 'email' }),
  rule('phone', { kind: 'partial', keep: 4 }),
  rule('card_number', { kind: 'partial', keep: 4 }),
  rule('ssn', { kind: 'redact' }),
];

/** A short label for an action: `email`, `partial4`, `redact`, … */
export function label(action: MaskAction | null): string | null {
  if (action === null) return null;
  return action.kind === 'partial' ? `partial${action.keep}` : action.kind;
}
