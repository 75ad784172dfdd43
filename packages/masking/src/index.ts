export { createMasker, UNCHANGED, AS_TEXT, type CellKind, type Masker, type MaskerOptions, type MaskStats } from './masker.js';
export { applyAction, REDACTED, HASH_PREFIX } from './actions.js';
export { detect } from './detect.js';
export { allDetectors } from './detectors.js';
export { MaskingPlanError } from './errors.js';
