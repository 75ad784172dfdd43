/** Request/response plumbing for the connector protocol: bodies may be gzipped, every answer is JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };
export type JsonObject = { [key: string]: Json | undefined };

/** Read the body; gunzip when it starts with the gzip magic (Python always gzips, Node never does). */
export async function readBody(req: IncomingMessage): Promise<JsonObject> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(b);
  }
  let raw = Buffer.concat(chunks);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  const text = raw.toString('utf8').trim();
  if (text === '') return {};
  const parsed: unknown = JSON.parse(text);
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as JsonObject) : {};
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The session (or master) token from `Authorization: Snowflake Token="…"`. */
export function snowflakeToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization ?? '';
  const m = /^Snowflake Token="(.*)"$/.exec(h);
  return m ? m[1] : null;
}

export function str(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

export function obj(v: Json | undefined): JsonObject | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
}
