import { gunzip } from 'node:zlib';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface BodyLimits {
  /** the most bytes read, compressed or expanded, before the sender is known (`proxy.limits.maxLoginBodyBytes`) */
  maxLoginBodyBytes: number;
  /** the most bytes read, compressed or expanded, from an authenticated sender (`proxy.limits.maxBodyBytes`) */
  maxBodyBytes: number;
}

/** A body over its limit: answered in the protocol of the route, naming the limit and the key that raises it. */
export class BodyTooLarge extends Error {
  readonly statusCode = 413;
  constructor(limit: number, key: string, authenticated: boolean) {
    super(
      `the request body is larger than the ${limit} bytes Airlock reads ${authenticated ? 'in one request' : 'before authentication'} (${key}, counted after decompression)`,
    );
  }
}

const gunzipCapped = (bytes: Buffer, cap: number): Promise<Buffer> =>
  new Promise((resolve, reject) => gunzip(bytes, { maxOutputLength: cap }, (err, out) => (err ? reject(err) : resolve(out))));

/** Reads at most `cap` bytes of a request body; one more is a refusal, and nothing past it is kept. */
function readCapped(payload: IncomingMessage, cap: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = Number(payload.headers['content-length']);
  if (Number.isFinite(declared) && declared > cap) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > cap) {
        payload.off('data', onData);
        payload.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    payload.on('data', onData);
    payload.on('error', reject);
    payload.on('end', () => resolve(Buffer.concat(chunks, size)));
  });
}

/**
 * Parses every body in this scope as JSON, gunzipping first when it starts with the gzip magic: Python always
 * gzips, snowflake-sdk never does, and neither is reliable about `Content-Encoding`. An empty body is `{}` (the
 * driver posts session close and heartbeat with no body but a JSON content type).
 *
 * Bodies are bounded twice, compressed and expanded, by `maxLoginBodyBytes` until the request is known to come from
 * an authenticated sender (`authenticated`), then by `maxBodyBytes`; decompression stops at the bound and runs off the
 * event loop, so a gzip bomb costs its own size and no more.
 */
export function acceptSnowflakeBodies(scope: FastifyInstance, limits: BodyLimits, authenticated: (request: FastifyRequest) => Promise<boolean>): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', async (request: FastifyRequest, payload: IncomingMessage) => {
    const known = await authenticated(request);
    const cap = known ? limits.maxBodyBytes : limits.maxLoginBodyBytes;
    const tooLarge = () => new BodyTooLarge(cap, known ? 'proxy.limits.maxBodyBytes' : 'proxy.limits.maxLoginBodyBytes', known);
    let bytes = await readCapped(payload, cap, tooLarge);
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        bytes = await gunzipCapped(bytes, cap);
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
        throw notJson();
      }
    }
    try {
      const text = bytes.toString('utf8').trim();
      return text === '' ? {} : (JSON.parse(text) as unknown);
    } catch {
      throw notJson();
    }
  });
}

function notJson(): Error {
  const err = new Error('the request body is not JSON (or not gzipped JSON)') as Error & { statusCode: number };
  err.statusCode = 400;
  return err;
}
