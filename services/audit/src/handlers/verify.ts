import type { FastifyInstance } from 'fastify';
import type { Integrity } from '../integrity.js';
import { integer, type Query } from './query.js';

type Reader = (authorization: string | undefined) => Promise<unknown>;

/** `GET /v1/verify`: walks the chain (one partition or all) and checks it against the signed checkpoints. */
export function verifyRoutes(http: FastifyInstance, reader: Reader, integrity: Integrity): void {
  http.get<{ Querystring: Query }>('/v1/verify', async (req) => {
    await reader(req.headers.authorization);
    const partition = integer(req.query, 'partition', 1);
    return integrity.verify(partition === undefined ? {} : { partition });
  });
}
