import type { DetectorName, MaskingPlan } from '@airlock/contracts';
import { HASH_PREFIX, REDACTED, assertAction, hashKeyBytes, maskEmail, maskEmailAscii, maskPartial, maskPartialAscii } from './actions.js';
import { detectorKind, detectorNames } from './detectors.js';
import { MaskingPlanError } from './errors.js';
import { Hmac64 } from './hmac.js';
import { Scanner, mayHoldFinding } from './scanner.js';

export interface MaskerOptions {
  plan: MaskingPlan;
  /** HMAC key for `hash` actions; never logged, never echoed in an error */
  hashKey: Uint8Array | string;
  /** number of columns of the result, as the upstream described it */
  columnCount: number;
}

export interface MaskStats {
  /** cells changed by a column action or by at least one detector */
  maskedCells: number;
  /** findings by detector (a cell may hold several) */
  detected: Record<DetectorName, number>;
}

export interface Masker {
  /** masks one row in place and returns it; values are text or null */
  maskRow(row: Array<string | null>): Array<string | null>;
  /** a snapshot of the counters so far */
  readonly stats: MaskStats;
  /**
   * no column of the announced width is masked or scanned (each is `detect: false`, or no detector is configured):
   * rows of that width come back untouched without visiting a cell
   */
  readonly passesThrough: boolean;
  /**
   * What `maskRow` does to a non-null value of column `column` (a column past the announced width gets the unlisted
   * columns' treatment): `pass` returns it untouched without reading it, `fixed` replaces every value with one result
   * (`maskCell` does not read the value it is given), `value` gives a result that depends on the value.
   */
  cellKind(column: number): CellKind;
  /**
   * One non-null cell of column `column`, masked exactly as `maskRow` masks it in place, and counted the same way;
   * an unchanged value is returned as is.
   */
  maskCell(column: number, value: string): string | null;
  /**
   * `maskCell` for a non-null value given as its UTF-8 bytes `src[start, end)`, where that can be done on the bytes
   * alone: a `partial` or `email` action on an ASCII value, or a detector scan of text with no digit and no `@`
   * (nothing to find). Writes the masked value's bytes at `out[at]` (room for `end - start + 3` bytes is needed) and
   * returns their number, or returns `UNCHANGED` (the value stays as it is) or `AS_TEXT` (decode it and call
   * `maskCell`). Counts exactly as `maskCell` would; nothing is counted for `AS_TEXT`.
   */
  maskUtf8(column: number, src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number;
}

/** `maskUtf8`: the value stays as it is */
export const UNCHANGED = -1;
/** `maskUtf8`: the value must be masked as text, with `maskCell` */
export const AS_TEXT = -2;

/** How a column's values are treated; see `Masker.cellKind`. */
export type CellKind = 'pass' | 'fixed' | 'value';

// Column operations as small integers: the row loop switches on a number rather than on an action object.
const OP_CLEAR = 0; // no column action: content detectors run
const OP_REDACT = 1;
const OP_NULL = 2;
const OP_PARTIAL = 3;
const OP_EMAIL = 4;
const OP_HASH = 5;
const OP_PASS = 6; // `detect: false`: the principal may see this column in clear, detectors included

const OP_BY_KIND = { redact: OP_REDACT, null: OP_NULL, partial: OP_PARTIAL, email: OP_EMAIL, hash: OP_HASH } as const;

class PlanMasker implements Masker {
  private readonly ops: Uint8Array;
  private readonly keeps: Int32Array;
  /** the operation for a column past the end of `ops` (a row longer than announced) */
  private readonly unlistedOp: number;
  private readonly scanner: Scanner | null;
  private readonly hmac: Hmac64 | null;
  private readonly detected: Int32Array;
  private maskedCells = 0;
  readonly passesThrough: boolean;

  constructor(ops: Uint8Array, keeps: Int32Array, unlistedOp: number, detectorKinds: readonly number[], hmac: Hmac64 | null) {
    this.ops = ops;
    this.keeps = keeps;
    this.unlistedOp = unlistedOp;
    this.scanner = detectorKinds.length > 0 ? new Scanner(detectorKinds) : null;
    this.hmac = hmac;
    this.detected = new Int32Array(detectorNames.length);
    this.passesThrough = ops.every((op) => op === OP_PASS || (op === OP_CLEAR && this.scanner === null));
  }

  maskRow(row: Array<string | null>): Array<string | null> {
    const n = row.length;
    const known = this.ops.length;
    // a row longer than announced still takes the loop: its extra cells get the unlisted columns' treatment
    if (this.passesThrough && n <= known) return row;
    for (let i = 0; i < n; i++) {
      const value = row[i];
      if (value === null || value === undefined) continue;
      row[i] = this.maskCell(i, value);
    }
    return row;
  }

  cellKind(column: number): CellKind {
    const op = column < this.ops.length ? this.ops[column] : this.unlistedOp;
    if (op === OP_PASS || (op === OP_CLEAR && this.scanner === null)) return 'pass';
    return op === OP_REDACT || op === OP_NULL ? 'fixed' : 'value';
  }

  maskCell(column: number, value: string): string | null {
    const op = column < this.ops.length ? this.ops[column] : this.unlistedOp;
    if (op === OP_PASS) return value;
    if (op === OP_CLEAR) {
      const scanner = this.scanner;
      if (scanner !== null && scanner.scan(value) > 0) {
        const rendered = scanner.render(value);
        this.maskedCells++;
        const { kinds, count } = scanner;
        for (let k = 0; k < count; k++) this.detected[kinds[k]]++;
        return rendered;
      }
      return value;
    }
    this.maskedCells++;
    return this.applyOp(op, column, value);
  }

  maskUtf8(column: number, src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
    const op = column < this.ops.length ? this.ops[column] : this.unlistedOp;
    let n: number;
    switch (op) {
      case OP_PASS:
        return UNCHANGED;
      case OP_CLEAR:
        return this.scanner === null || !mayHoldFinding(src, start, end) ? UNCHANGED : AS_TEXT;
      case OP_PARTIAL:
        n = maskPartialAscii(src, start, end, this.keeps[column], out, at);
        break;
      case OP_EMAIL:
        n = maskEmailAscii(src, start, end, out, at);
        break;
      default:
        return AS_TEXT;
    }
    if (n < 0) return AS_TEXT;
    this.maskedCells++;
    return n;
  }

  private applyOp(op: number, column: number, value: string): string | null {
    switch (op) {
      case OP_REDACT:
        return REDACTED;
      case OP_NULL:
        return null;
      case OP_PARTIAL:
        return maskPartial(value, this.keeps[column]);
      case OP_EMAIL:
        return maskEmail(value);
      case OP_HASH:
        // hmac is non-null whenever a hash op exists (see createMasker)
        return HASH_PREFIX + (this.hmac as Hmac64).hex16(value);
      default:
        return REDACTED; // unreachable; fail closed rather than pass a value through
    }
  }

  get stats(): MaskStats {
    const detected = {} as Record<DetectorName, number>;
    for (let k = 0; k < detectorNames.length; k++) detected[detectorNames[k]] = this.detected[k];
    return { maskedCells: this.maskedCells, detected };
  }
}

/**
 * Builds a masker for one result. Checks the whole plan first and throws `MaskingPlanError` on anything it cannot
 * apply (duplicate or negative column index, unknown action or detector, hash without a key), so a bad plan fails the
 * statement instead of letting a value through.
 *
 * - Columns listed with a non-null action get that action; listed with `action: null` they are returned as-is
 *   (apart from detectors).
 * - `maskUnlisted` redacts every column absent from `plan.columns`, including columns past `columnCount` if a row
 *   turns out longer than announced.
 * - Plan entries whose index is at or past `columnCount` still apply if such a column arrives.
 */
export function createMasker(options: MaskerOptions): Masker {
  const { plan, hashKey, columnCount } = options;
  if (!Number.isInteger(columnCount) || columnCount < 0) {
    throw new MaskingPlanError('columnCount must be a whole number >= 0');
  }
  let width = columnCount;
  for (const column of plan.columns) {
    if (!Number.isInteger(column.index) || column.index < 0) {
      throw new MaskingPlanError(`masking plan column ${JSON.stringify(column.name)}: index must be a whole number >= 0`);
    }
    if (column.index + 1 > width) width = column.index + 1;
  }

  const unlistedOp = plan.maskUnlisted ? OP_REDACT : OP_CLEAR;
  const ops = new Uint8Array(width).fill(unlistedOp);
  const keeps = new Int32Array(width);
  const listed = new Uint8Array(width);
  let needsKey = false;
  for (const column of plan.columns) {
    const where = `masking plan column ${column.index} (${JSON.stringify(column.name)})`;
    if (listed[column.index] === 1) throw new MaskingPlanError(`${where}: listed more than once`);
    listed[column.index] = 1;
    if (column.action === null) {
      ops[column.index] = column.detect === false ? OP_PASS : OP_CLEAR;
      continue;
    }
    assertAction(column.action, where);
    ops[column.index] = OP_BY_KIND[column.action.kind];
    if (column.action.kind === 'partial') keeps[column.index] = column.action.keep;
    if (column.action.kind === 'hash') needsKey = true;
  }

  const kinds: number[] = [];
  for (const name of plan.detectors) {
    const kind = detectorKind(name);
    if (kind < 0) throw new MaskingPlanError(`unknown content detector ${JSON.stringify(name)}`);
    if (!kinds.includes(kind)) kinds.push(kind);
  }

  const hmac = needsKey ? new Hmac64(hashKeyBytes(hashKey)) : null;
  return new PlanMasker(ops, keeps, unlistedOp, kinds, hmac);
}
