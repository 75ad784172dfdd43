/**
 * What to do when an API refused the caller's token for its audience: each API takes tokens made for its own audience
 * only, so a database token (audience `airlock`) does not open it. Empty when the refusal is about something else.
 */
export function audienceHint(api: string, envelope: { code?: unknown; details?: unknown }): string {
  if (envelope.code !== 'identity.audience_mismatch') return '';
  const details = typeof envelope.details === 'object' && envelope.details !== null ? (envelope.details as Record<string, unknown>) : {};
  const audience = typeof details['audience'] === 'string' ? details['audience'] : undefined;
  if (!audience) return `\n${api} takes tokens made for its own audience; ask your identity provider for one`;
  return `\n${api} needs a token for audience ${audience}: ask your identity provider for one (in the demo: airlock token --sub <you> --groups <groups> --aud ${audience})`;
}
