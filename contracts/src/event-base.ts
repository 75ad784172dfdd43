import { Type } from '@sinclair/typebox';

/** Fields every event carries, first in the payload. `id` is the idempotency key of audit and of JetStream de-duplication. */
export const eventBase = {
  id: Type.String({ format: 'uuid', description: 'unique event id' }),
  time: Type.String({ format: 'date-time', description: 'when the event happened (ISO 8601, UTC)' }),
  requestId: Type.Optional(Type.String({ description: 'the statement request id this event belongs to' })),
  sessionId: Type.Optional(Type.String({ description: 'the client session this event belongs to' })),
};
