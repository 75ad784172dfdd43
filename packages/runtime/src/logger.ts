import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values are secrets or data values and must never reach a log line, at any depth we log. */
export const redactedKeys = [
  'token',
  'password',
  'privateKey',
  'privateKeyPem',
  'secret',
  'authorization',
  'adminUrl',
  'connectionString',
  'hashKey',
  'values',
  'rows',
  'row',
  'params',
];

const redactPaths = redactedKeys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  service: string;
  level?: string;
  /** where to write; standard output when absent (tests pass a stream to inspect) */
  destination?: NodeJS.WritableStream;
}

/** Structured JSON logs (pino) with secrets redacted by key. */
export function createLogger(options: LoggerOptions): Logger {
  const base = { service: options.service };
  const opts = {
    level: options.level ?? 'info',
    base,
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
