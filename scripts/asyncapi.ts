// Generates docs/asyncapi.json, the AsyncAPI 3.0 document of every event subject and its payload schema, from contracts/.
// Usage: npx tsc -b contracts && node --import tsx scripts/asyncapi.ts [--check]
// --check exits 1 when the checked-in document differs from what the contracts produce.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { allEvents, defaultRoot, Headers, type EventDescriptor } from '@airlock/contracts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
export const asyncApiPath = join(repo, 'docs', 'asyncapi.json');

/** A TypeBox schema as plain JSON Schema: symbols dropped, and the `$id`s removed since each schema is embedded. */
function jsonSchema(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) => (key === '$id' ? undefined : value));
}

function key(d: EventDescriptor): string {
  return `${d.family}.${d.version}.${d.event}`;
}

/** The document, deterministic for given contracts (the test compares it byte for byte with the checked-in file). */
export function asyncApiDocument(): Record<string, unknown> {
  const version = (JSON.parse(readFileSync(join(repo, 'contracts', 'package.json'), 'utf8')) as { version: string }).version;
  const events = [...allEvents].sort((a, b) => key(a).localeCompare(key(b)));
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const d of events) {
    const k = key(d);
    schemas[k] = jsonSchema(d.payload);
    messages[k] = {
      name: k,
      title: `${d.family} ${d.event}`,
      summary: d.description,
      contentType: 'application/json',
      headers: { $ref: '#/components/schemas/EventHeaders' },
      correlationId: { $ref: '#/components/correlationIds/requestId' },
      payload: { $ref: `#/components/schemas/${k}` },
    };
    channels[k] = {
      address: `{root}.evt.${k}`,
      title: k,
      description: d.description,
      parameters: { root: { $ref: '#/components/parameters/root' } },
      messages: { [d.event]: { $ref: `#/components/messages/${k}` } },
    };
    operations[`receive.${k}`] = {
      action: 'receive',
      title: `Receive ${k}`,
      summary: d.description,
      channel: { $ref: `#/channels/${k}` },
      messages: [{ $ref: `#/channels/${k}/messages/${d.event}` }],
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Airlock lifecycle events',
      version,
      description: [
        'Every lifecycle event of Airlock (identity, policy, approval, credential, proxy) as published on NATS JetStream.',
        'All events are stored in one stream, `<ROOT>_EVENTS` (`AIRLOCK_EVENTS` for the default root `airlock`), over the subjects',
        '`<root>.evt.>`; retention is set by `AIRLOCK_EVENT_RETENTION_SECONDS` (0 keeps events until the stream limits remove them).',
        'Each message carries its event id in `Nats-Msg-Id` (JetStream de-duplicates on it) and in the payload `id`.',
        'A SIEM creates its own durable pull consumer on the stream; see docs/siem.md.',
      ].join(' '),
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      nats: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        description: 'The NATS server with JetStream that Airlock publishes to (NATS_URL).',
      },
    },
    channels,
    operations,
    components: {
      schemas: {
        EventHeaders: {
          type: 'object',
          properties: {
            [Headers.msgId]: { type: 'string', format: 'uuid', description: 'the event id; JetStream de-duplicates on it' },
            [Headers.requestId]: { type: 'string', description: 'the statement or call the event belongs to' },
            [Headers.traceparent]: { type: 'string', description: 'W3C trace context' },
          },
        },
        ...schemas,
      },
      messages,
      parameters: {
        root: {
          default: defaultRoot,
          description: 'The subject root (AIRLOCK_SUBJECT_ROOT); the stream is named after it in upper case with `_EVENTS`.',
        },
      },
      correlationIds: {
        requestId: { description: 'the statement request id, when the event belongs to a statement', location: '$message.payload#/requestId' },
      },
    },
  };
}

export function asyncApiText(): string {
  return `${JSON.stringify(asyncApiDocument(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = asyncApiText();
  if (process.argv.includes('--check')) {
    const current = readFileSync(asyncApiPath, 'utf8');
    if (current !== text) {
      console.error('docs/asyncapi.json is out of date: run node --import tsx scripts/asyncapi.ts');
      process.exit(1);
    }
  } else {
    writeFileSync(asyncApiPath, text);
    console.log(`wrote ${asyncApiPath}`);
  }
}
