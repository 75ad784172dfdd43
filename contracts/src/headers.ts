/** NATS header names that every request and event carries. */
export const Headers = {
  /** W3C trace context */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  requestId: 'Airlock-Request-Id',
  /** JetStream de-duplication key; events set it to the event id */
  msgId: 'Nats-Msg-Id',
  idempotencyKey: 'Airlock-Idempotency-Key',
  /** set on a reply that carries an ErrorEnvelope instead of the response */
  errorCode: 'Nats-Service-Error-Code',
  error: 'Nats-Service-Error',
} as const;
