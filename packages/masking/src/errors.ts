/**
 * A masking plan or masker option that cannot be applied. Raised when the masker is built, before any row is seen,
 * so the proxy can fail the statement closed. The message names the column index or option, never a data value or key.
 */
export class MaskingPlanError extends Error {
  readonly code = 'masking.invalid_plan' as const;

  constructor(message: string) {
    super(message);
    this.name = 'MaskingPlanError';
  }
}
