import type { Principal } from '@airlock/contracts';

/** An event in the shape of the Open Cybersecurity Schema Framework (OCSF 1.1): what SIEMs ingest without a parser. */
export interface OcsfEvent {
  class_uid: number;
  class_name: string;
  category_uid: number;
  category_name: string;
  activity_id: number;
  activity_name: string;
  type_uid: number;
  time: number;
  severity_id: number;
  status_id: number;
  status: string;
  status_code?: string;
  status_detail?: string;
  message: string;
  metadata: { version: string; uid: string; correlation_uid?: string; product: { name: string; vendor_name: string }; event_code: string };
  actor?: { user?: { uid: string; name: string; email_addr?: string; groups: Array<{ name: string }> }; session?: { uid: string } };
  src_endpoint?: { ip?: string; name?: string };
  /** the Airlock event exactly as it was on the stream */
  unmapped: { subject: string; event: Record<string, unknown> };
}

type Mapping = { class: keyof typeof classes; activity: [number, string]; status: 0 | 1 | 2 | 99; severity?: number; detail?: string; code?: string };

const classes = {
  authentication: { uid: 3002, name: 'Authentication', category: [3, 'Identity & Access Management'] },
  accountChange: { uid: 3001, name: 'Account Change', category: [3, 'Identity & Access Management'] },
  datastore: { uid: 6005, name: 'Datastore Activity', category: [6, 'Application Activity'] },
  base: { uid: 0, name: 'Base Event', category: [0, 'Uncategorized'] },
} as const;

const statusName = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' } as const;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** How each Airlock event maps to an OCSF class and activity (documented in docs/siem.md). */
function mapping(type: string, p: Record<string, unknown>): Mapping {
  switch (type) {
    case 'identity.v1.token-verified':
      return { class: 'authentication', activity: [1, 'Logon'], status: 1 };
    case 'identity.v1.token-refused':
      return { class: 'authentication', activity: [1, 'Logon'], status: 2, severity: 3, detail: str(p['reason']), code: str(p['code']) };
    case 'proxy.v1.session-opened':
      return { class: 'datastore', activity: [3, 'Connect'], status: 1 };
    case 'proxy.v1.session-closed':
      return { class: 'datastore', activity: [99, 'Disconnect'], status: 1, detail: str(p['reason']) };
    case 'policy.v1.decided': {
      const d = p['decision'] as { outcome?: string; reason?: string; code?: string } | undefined;
      const refused = d?.outcome === 'deny';
      return { class: 'datastore', activity: [99, 'Authorize'], status: refused ? 2 : 1, severity: refused ? 2 : 1, detail: `${d?.outcome ?? 'unknown'}: ${d?.reason ?? ''}`, code: d?.code };
    }
    case 'proxy.v1.query-started': {
      // a statement under a reused decision has no Authorize record of its own: it names the one it reused
      const reused = str((p['reused'] as Record<string, unknown> | undefined)?.['requestId']);
      return { class: 'datastore', activity: [4, 'Query'], status: 0, detail: reused ? `started under the decision of request ${reused}` : 'started' };
    }
    case 'proxy.v1.query-completed': {
      // a read that ended before its start was recorded names the decision it reused on its end
      const reused = str((p['reused'] as Record<string, unknown> | undefined)?.['requestId']);
      return { class: 'datastore', activity: [4, 'Query'], status: 1, detail: reused ? `${str(p['command']) ?? ''} under the decision of request ${reused}` : str(p['command']) };
    }
    case 'proxy.v1.query-failed': {
      const reused = str((p['reused'] as Record<string, unknown> | undefined)?.['requestId']);
      return { class: 'datastore', activity: [4, 'Query'], status: 2, severity: 2, detail: reused ? `${str(p['message']) ?? ''} (under the decision of request ${reused})` : str(p['message']), code: str(p['code']) };
    }
    case 'approval.v1.requested':
      return { class: 'base', activity: [99, 'Approval Requested'], status: 0 };
    case 'approval.v1.decided':
      return { class: 'base', activity: [99, 'Approval Decided'], status: p['state'] === 'granted' ? 1 : p['state'] === 'pending' ? 0 : 2, detail: str(p['state']) };
    case 'credential.v1.issued':
      return { class: 'accountChange', activity: [1, 'Create'], status: 1 };
    case 'credential.v1.revoked':
      return { class: 'accountChange', activity: [6, 'Delete'], status: 1, detail: str(p['reason']) };
    case 'credential.v1.revoke-failed': {
      const irrevocable = p['irrevocable'] === true;
      return { class: 'accountChange', activity: [6, 'Delete'], status: 2, severity: irrevocable ? 4 : 2, detail: irrevocable ? 'irrevocable' : 'will be retried' };
    }
    default:
      return { class: 'base', activity: [99, type], status: 99 };
  }
}

/**
 * Maps one event. `principal` is the session's principal when the event itself does not name one (the forwarder
 * remembers it from the session's opening).
 */
export function toOcsf(subject: string, event: Record<string, unknown>, principal?: Principal): OcsfEvent {
  const type = subject.split('.').slice(-3).join('.');
  const m = mapping(type, event);
  const cls = classes[m.class];
  const who = (event['principal'] as Principal | undefined) ?? principal;
  const time = Date.parse(str(event['time']) ?? '');
  const sessionId = str(event['sessionId']);
  const requestId = str(event['requestId']);
  const client = str(event['client']);
  const actor = {
    ...(who
      ? { user: { uid: who.subject, name: who.subject, ...(who.email ? { email_addr: who.email } : {}), groups: who.groups.map((name) => ({ name })) } }
      : {}),
    ...(sessionId ? { session: { uid: sessionId } } : {}),
  };
  return {
    class_uid: cls.uid,
    class_name: cls.name,
    category_uid: cls.category[0],
    category_name: cls.category[1],
    activity_id: m.activity[0],
    activity_name: m.activity[1],
    type_uid: cls.uid * 100 + m.activity[0],
    time: Number.isNaN(time) ? Date.now() : time,
    severity_id: m.severity ?? 1,
    status_id: m.status,
    status: statusName[m.status],
    ...(m.code ? { status_code: m.code } : {}),
    ...(m.detail ? { status_detail: m.detail } : {}),
    message: `airlock ${type}`,
    metadata: {
      version: '1.1.0',
      uid: str(event['id']) ?? '',
      ...(requestId ? { correlation_uid: requestId } : {}),
      product: { name: 'Airlock', vendor_name: 'Airlock' },
      event_code: type,
    },
    ...(Object.keys(actor).length ? { actor } : {}),
    ...(client ? { src_endpoint: clientEndpoint(client) } : {}),
    unmapped: { subject, event },
  };
}

/** `client` is an address, `address:port`, `[v6]:port`, or a name; OCSF wants the address alone in `ip`. */
function clientEndpoint(client: string): { ip?: string; name?: string } {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::\d+)?$/.exec(client);
  if (bracketed) return { ip: bracketed[1]! };
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(client);
  if (v4) return { ip: v4[1]! };
  if (/^[0-9a-fA-F:]+$/.test(client) && client.includes(':')) return { ip: client };
  return { name: client };
}
