import type { Principal } from '@airlock/contracts';
import type { Bus, ConsumedEvent, Logger } from '@airlock/runtime';
import { toOcsf } from './ocsf.js';

export interface ForwarderSettings {
  url: string;
  /** sent as the Authorization header; a secret, never logged */
  authorization?: string;
  timeoutMs: number;
  maxBackoffMs: number;
  durableName?: string;
}

export interface Forwarder {
  /** events the webhook accepted */
  readonly delivered: number;
  close(): Promise<void>;
}

/** Sessions whose principal is remembered, so later events of the session carry an actor. */
const rememberedSessions = 10_000;

/**
 * Delivers every event, in stream order, to a webhook as OCSF-shaped JSON (one POST per event). It reads its own
 * durable consumer, so a slow or failing webhook only delays itself: the audit table and the data path never wait
 * for it. A failed delivery is retried with exponential backoff until the webhook accepts it; an event the webhook
 * refuses outright (4xx other than 408/429) is logged by id and skipped.
 */
export async function startForwarder(bus: Bus, logger: Logger, settings: ForwarderSettings): Promise<Forwarder> {
  const stop = new AbortController();
  const principals = new Map<string, Principal>();
  const target = new URL(settings.url);
  // the URL may carry credentials or a token in its query: log the origin only
  const where = target.origin;
  let delivered = 0;

  const remember = (e: ConsumedEvent) => {
    const p = e.payload as { sessionId?: unknown; principal?: Principal } | undefined;
    if (typeof p?.sessionId !== 'string') return undefined;
    if (p.principal && e.subject.endsWith('.session-opened')) {
      principals.set(p.sessionId, p.principal);
      if (principals.size > rememberedSessions) principals.delete(principals.keys().next().value!);
    }
    const known = principals.get(p.sessionId);
    if (e.subject.endsWith('.session-closed')) principals.delete(p.sessionId);
    return known;
  };

  const post = async (body: string, eventId: string): Promise<'ok' | 'refused' | 'retry'> => {
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': eventId,
          ...(settings.authorization ? { authorization: settings.authorization } : {}),
        },
        body,
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(settings.timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'ok';
      return res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429 ? 'refused' : 'retry';
    } catch {
      return 'retry';
    }
  };

  await bus.consumeBatches(
    settings.durableName ?? 'airlock-audit-forward',
    async (events, working) => {
      for (const e of events) {
        const raw = typeof e.payload === 'object' && e.payload !== null ? (e.payload as Record<string, unknown>) : { value: e.payload ?? null };
        const ocsf = toOcsf(e.subject, raw, remember(e));
        const body = JSON.stringify(ocsf);
        for (let attempt = 1; ; attempt++) {
          if (stop.signal.aborted) throw new Error('forwarder stopping');
          const result = await post(body, ocsf.metadata.uid);
          if (result === 'ok') {
            delivered += 1;
            break;
          }
          if (result === 'refused') {
            logger.error({ webhook: where, eventId: ocsf.metadata.uid, type: ocsf.metadata.event_code }, 'the webhook refused an event; it is skipped');
            break;
          }
          if (attempt === 1 || attempt % 10 === 0) {
            logger.warn({ webhook: where, eventId: ocsf.metadata.uid, attempt }, 'forwarding an event failed; retrying with backoff');
          }
          working();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(settings.maxBackoffMs, 100 * 2 ** Math.min(attempt - 1, 12)));
            stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
          });
        }
      }
    },
    { maxBatch: 50 },
  );
  logger.info({ webhook: where }, 'forwarding events as OCSF JSON');
  return {
    get delivered() {
      return delivered;
    },
    close: async () => {
      stop.abort();
    },
  };
}
