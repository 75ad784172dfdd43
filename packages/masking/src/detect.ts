import type { DetectorName } from '@airlock/contracts';
import { detectorKind, detectorNames } from './detectors.js';
import { MaskingPlanError } from './errors.js';
import { Scanner } from './scanner.js';

/**
 * Runs the named detectors over one value and returns it with each finding replaced by its token (`[card]`, …),
 * plus the number of findings per detector. For tests and the explain output; the masker reuses one scanner instead.
 */
export function detect(
  value: string,
  detectors: readonly DetectorName[],
): { value: string; found: Partial<Record<DetectorName, number>> } {
  const kinds: number[] = [];
  for (const name of detectors) {
    const kind = detectorKind(name);
    if (kind < 0) throw new MaskingPlanError(`unknown content detector ${JSON.stringify(name)}`);
    kinds.push(kind);
  }
  const scanner = new Scanner(kinds);
  const found: Partial<Record<DetectorName, number>> = {};
  if (scanner.scan(value) === 0) return { value, found };
  for (let k = 0; k < scanner.count; k++) {
    const name = detectorNames[scanner.kinds[k]];
    found[name] = (found[name] ?? 0) + 1;
  }
  return { value: scanner.render(value), found };
}
