// Checksums the detectors use to tell real identifiers from digit strings of the same shape. All of them read the
// value in place between two offsets and skip separators, so validating a candidate allocates nothing.

/** True for ASCII 0-9. */
export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** True for ASCII A-Z. */
export function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

/** True for ASCII letters and digits. */
export function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Luhn (mod 10) over the digits of `s[start, end)`, ignoring any other character. */
export function luhnValid(s: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) continue;
    let d = c - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * IBAN length by country (SWIFT IBAN registry, plus the long-standing "experimental" African and Middle-East formats
 * that banks print). Indexed by (first letter - 'A') * 26 + (second letter - 'A'); 0 means not an IBAN country.
 */
export const ibanLengths: Readonly<Uint8Array> = buildIbanLengths({
  AD: 24, AE: 23, AL: 28, AO: 25, AT: 20, AZ: 28, BA: 20, BE: 16, BF: 28, BG: 22, BH: 22, BI: 27, BJ: 28, BR: 29,
  BY: 28, CF: 27, CG: 27, CH: 21, CI: 28, CM: 27, CR: 22, CV: 25, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28,
  DZ: 26, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GA: 27, GB: 22, GE: 22, GI: 23, GL: 18, GQ: 27,
  GR: 27, GT: 28, HN: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IR: 26, IS: 26, IT: 27, JO: 30, KM: 27, KW: 30,
  KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MA: 28, MC: 27, MD: 24, ME: 22, MG: 27, MK: 19,
  ML: 28, MN: 20, MR: 27, MT: 31, MU: 30, MZ: 25, NE: 28, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29,
  PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SN: 28, SO: 23,
  ST: 25, SV: 28, TD: 27, TG: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20, YE: 30,
});

function buildIbanLengths(table: Record<string, number>): Uint8Array {
  const out = new Uint8Array(26 * 26);
  for (const [cc, len] of Object.entries(table)) out[(cc.charCodeAt(0) - 65) * 26 + (cc.charCodeAt(1) - 65)] = len;
  return out;
}

/** The registered IBAN length for the two upper-case letters at `s[i]`, or 0. */
export function ibanLength(s: string, i: number): number {
  const a = s.charCodeAt(i);
  const b = s.charCodeAt(i + 1);
  if (!isUpper(a) || !isUpper(b)) return 0;
  return ibanLengths[(a - 65) * 26 + (b - 65)] ?? 0;
}

/**
 * ISO 7064 mod-97-10 over an IBAN written in `s[start, end)` with optional spaces: the first four characters move to
 * the end, letters count as 10..35, and the remainder must be 1. Computed digit by digit so no big integer is needed.
 */
export function ibanMod97Valid(s: string, start: number, end: number): boolean {
  let rem = 0;
  let head = 0; // characters of the country code + check digits seen, to find where the BBAN starts
  let bbanStart = end;
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) === 32) continue;
    if (head === 4) {
      bbanStart = i;
      break;
    }
    head++;
  }
  rem = mod97Fold(s, bbanStart, end, rem);
  rem = mod97Fold(s, start, bbanStart, rem);
  return rem === 1;
}

function mod97Fold(s: string, start: number, end: number, rem: number): number {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    // spaces are grouping only
  }
  return rem;
}
