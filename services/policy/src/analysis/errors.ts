/** The statement text is not valid SQL for its dialect; the caller turns this into a denial. */
export class SqlParseError extends Error {
  override readonly name = 'SqlParseError';
  /** 0-based character offset where the parser stopped, when it said */
  readonly position: number | undefined;

  constructor(message: string, position?: number) {
    super(message);
    this.position = position;
  }
}
