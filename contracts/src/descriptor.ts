import type { Static, TObject, TSchema } from '@sinclair/typebox';

/** A request/reply subject: `<root>.<family>.<version>.<operation>`. */
export interface RequestDescriptor<Req extends TSchema = TSchema, Res extends TSchema = TSchema> {
  readonly kind: 'request';
  readonly family: string;
  readonly version: string;
  readonly operation: string;
  readonly request: Req;
  readonly response: Res;
  readonly description: string;
}

/** An event subject on the JetStream stream: `<root>.evt.<family>.<version>.<event>`. */
export interface EventDescriptor<Payload extends TObject = TObject> {
  readonly kind: 'event';
  readonly family: string;
  readonly version: string;
  readonly event: string;
  readonly payload: Payload;
  readonly description: string;
}

export type RequestOf<D> = D extends RequestDescriptor<infer R, TSchema> ? Static<R> : never;
export type ResponseOf<D> = D extends RequestDescriptor<TSchema, infer R> ? Static<R> : never;
export type PayloadOf<D> = D extends EventDescriptor<infer P> ? Static<P> : never;

export const defaultRoot = 'airlock';

const token = /^[a-z][a-z0-9-]*$/;

export function requestSubject(root: string, d: RequestDescriptor): string {
  return `${root}.${d.family}.${d.version}.${d.operation}`;
}

export function eventSubject(root: string, d: EventDescriptor): string {
  return `${root}.evt.${d.family}.${d.version}.${d.event}`;
}

/** Wildcard that matches every event under a root: what audit and a SIEM subscribe to. */
export function allEventsSubject(root: string): string {
  return `${root}.evt.>`;
}

export function isValidToken(t: string): boolean {
  return token.test(t);
}

export function request<Req extends TSchema, Res extends TSchema>(
  family: string,
  version: string,
  operation: string,
  request: Req,
  response: Res,
  description: string,
): RequestDescriptor<Req, Res> {
  return { kind: 'request', family, version, operation, request, response, description };
}

export function event<P extends TObject>(
  family: string,
  version: string,
  name: string,
  payload: P,
  description: string,
): EventDescriptor<P> {
  return { kind: 'event', family, version, event: name, payload, description };
}
