import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';

/**
 * Parses every body in this scope as JSON, gunzipping first when it starts with the gzip magic: Python always
 * gzips, snowflake-sdk never does, and neither is reliable about `Content-Encoding`. An empty body is `{}` (the
 * driver posts session close and heartbeat with no body but a JSON content type).
 */
export function acceptSnowflakeBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, raw, done) => {
    try {
      let bytes = raw as Buffer;
      if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes, { maxOutputLength: 64 * 1024 * 1024 });
      const text = bytes.toString('utf8').trim();
      done(null, text === '' ? {} : (JSON.parse(text) as unknown));
    } catch {
      const err = new Error('the request body is not JSON (or not gzipped JSON)') as Error & { statusCode: number };
      err.statusCode = 400;
      done(err, undefined);
    }
  });
}
