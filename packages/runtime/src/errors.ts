import { ErrorCodes, isErrorCode, type ErrorCode, type ErrorEnvelope } from '@airlock/contracts';

/**
 * A business error with a stable code. Knows nothing of HTTP or wire protocols; each boundary maps `code` to
 * its own status (see `ErrorCodes`). The message must be safe to show to a client: no secret, no data value.
 */
export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AirlockError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }

  get sqlState(): string {
    const fromDetails = this.details?.['sqlState'];
    return typeof fromDetails === 'string' ? fromDetails : ErrorCodes[this.code].sqlState;
  }

  toEnvelope(): ErrorEnvelope {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromEnvelope(envelope: ErrorEnvelope): AirlockError {
    const code: ErrorCode = isErrorCode(envelope.code) ? envelope.code : 'runtime.internal';
    return new AirlockError(code, envelope.message, envelope.details);
  }
}

/** Turns anything thrown into an envelope without leaking internals: unknown errors become `runtime.internal`. */
export function toEnvelope(err: unknown): ErrorEnvelope {
  if (err instanceof AirlockError) return err.toEnvelope();
  return { code: 'runtime.internal', message: 'internal error; the event was logged with its request id' };
}
