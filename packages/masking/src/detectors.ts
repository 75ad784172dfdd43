import type { DetectorName } from '@airlock/contracts';

// Detector kinds as small integers so the hot path indexes arrays instead of hashing names.
export const EMAIL = 0;
export const CARD = 1;
export const SSN = 2;
export const IBAN = 3;
export const PHONE = 4;
export const IP = 5;

/** Every content detector, in the order of the `DetectorName` contract. */
export const allDetectors: readonly DetectorName[] = Object.freeze(['email', 'card', 'ssn', 'iban', 'phone', 'ip'] as const);

/** Detector names by kind number. */
export const detectorNames: readonly DetectorName[] = allDetectors;

/** The token that replaces a detected substring, by kind number. */
export const detectorTokens: readonly string[] = Object.freeze(['[email]', '[card]', '[ssn]', '[iban]', '[phone]', '[ip]']);

/** The kind number of a detector name, or -1 when the name is not a detector. */
export function detectorKind(name: string): number {
  return (allDetectors as readonly string[]).indexOf(name);
}
