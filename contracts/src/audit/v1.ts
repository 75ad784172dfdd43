import { Type, type Static } from '@sinclair/typebox';
import { Jwks, KeysRequest } from '../common.js';
import { event, request } from '../descriptor.js';
import { eventBase } from '../event-base.js';

/** The head of the audit chain at one moment, signed by the audit service: kept outside the table it vouches for. */
export const Checkpoint = Type.Object(
  {
    ...eventBase,
    /** the last row of the chain and its keyed hash */
    seq: Type.Integer({ minimum: 0 }),
    hash: Type.String(),
    /** the same, as a compact JWS signed with the audit service's key (claims `seq`, `hash`) */
    token: Type.String(),
  },
  { additionalProperties: false },
);
export type Checkpoint = Static<typeof Checkpoint>;

export const checkpoint = event(
  'audit',
  'v1',
  'checkpoint',
  Checkpoint,
  'The signed head of the audit chain, published regularly: a copy of the table that ends before it, or differs at it, was truncated or rewritten.',
);

export const keys = request(
  'audit',
  'v1',
  'keys',
  KeysRequest,
  Jwks,
  'The public keys that verify audit checkpoints (the current key and, during a rotation, the previous ones).',
);
