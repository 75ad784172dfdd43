import { isIPv6 } from 'node:net';
import { ibanLength, ibanMod97Valid, isAsciiAlnum, isDigit, luhnValid } from './checksums.js';
import { CARD, EMAIL, IBAN, IP, PHONE, SSN, detectorTokens } from './detectors.js';

// Regex sources for the detectors that are simplest as patterns. Each Scanner compiles its own instances because a
// global regex carries `lastIndex`, which must not be shared state between maskers.
//
// Boundaries: a match may not start or end inside a longer word or number, so "v1.2.3.4", "x4111111111111111" and
// "2024-123-45-6789" stay intact. The trailing `[…]\d` look-aheads refuse to cut a longer number in two.

/**
 * A maximal run of 13+ digits with single spaces or dashes between groups (greedy, so never a piece of a longer
 * run); which groups form a card is decided in code.
 */
const CARD_RUN = String.raw`(?<![\w.])\d(?:[ \-]?\d){12,}`;
/** AAA-GG-SSSS with dashes only: bare nine-digit numbers are ids, amounts and zip+4 codes far more often than SSNs. */
const SSN_SHAPE = String.raw`(?<![\w\-.])\d{3}-\d{2}-\d{4}(?![\w]|[\-.]\d)`;
/** Country code, check digits, then 11-30 letters or digits with optional single spaces; length and mod-97 in code. */
const IBAN_SHAPE = String.raw`(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}`;
/** Dotted quad; each octet is range-checked in code. */
const IPV4_SHAPE = String.raw`(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)`;
/**
 * North-American numbers: (415) 555-2671, (415)555-2671, 415-555-2671, 415.555.2671, with an optional leading "1-".
 * The separator must repeat (backreference) so "415-555.2671" and digit groups of dates and cards do not qualify;
 * space-only groups ("415 555 2671") are left out because plain number lists look the same.
 */
const NANP_SHAPE = String.raw`(?<![\w.+\-])(?:1[ .\-])?(?:\(\d{3}\) ?\d{3}[ .\-]\d{4}|\d{3}([.\-])\d{3}\1\d{4})(?![\w]|[.\-]\d)`;

/**
 * Whether UTF-8 text could hold anything a detector finds, read from its bytes without decoding them: every detector
 * needs an ASCII digit or an `@` (`scan`'s own gates require one: an e-mail its `@`, every other kind digits), and no
 * byte of a multi-byte UTF-8 character is one of those. False means `scan` of the decoded text returns 0.
 */
export function mayHoldFinding(src: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = src[i]!;
    if ((c >= 48 && c <= 57) || c === 64) return true;
  }
  return false;
}

const CARD_BIT = 1 << CARD;
const EMAIL_BIT = 1 << EMAIL;
const SSN_BIT = 1 << SSN;
const IBAN_BIT = 1 << IBAN;
const PHONE_BIT = 1 << PHONE;
const IP_BIT = 1 << IP;

/**
 * Finds PII in one text value and renders the value with each finding replaced by its token.
 *
 * Built once per masker and reused for every cell: the span arrays and regexes are its own, so scanning a value that
 * holds nothing allocates nothing. Not re-entrant (one value at a time), which the synchronous masker guarantees.
 */
export class Scanner {
  /** start offsets of the accepted findings, in detection order until `render` sorts them */
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly kinds: number[] = [];
  /** number of valid entries in starts/ends/kinds for the last scanned value */
  count = 0;

  private readonly enabled: number;
  private readonly cardRe = new RegExp(CARD_RUN, 'g');
  private readonly ssnRe = new RegExp(SSN_SHAPE, 'g');
  private readonly ibanRe = new RegExp(IBAN_SHAPE, 'g');
  private readonly ipv4Re = new RegExp(IPV4_SHAPE, 'g');
  private readonly nanpRe = new RegExp(NANP_SHAPE, 'g');

  /** @param kinds detector kind numbers to run */
  constructor(kinds: readonly number[]) {
    let enabled = 0;
    for (const k of kinds) enabled |= 1 << k;
    this.enabled = enabled;
  }

  /**
   * Scans `s` and returns the number of findings. A single pass first measures what the value could hold (digit
   * runs, `@`, `:`, dots, dashes, `+`, an IBAN-like prefix); only the detectors whose minimum shape is present run.
   * Every gate is a necessary condition of its detector, so the pre-filter never hides a finding.
   */
  scan(s: string): number {
    this.count = 0;
    const n = s.length;
    if (n < 3) return 0;

    let digits = 0;
    let dots = 0;
    let dashes = 0;
    let colons = 0;
    let sawAt = false;
    let sawPlus = false;
    let ibanHint = false;
    let pureRun = 0; // consecutive digits, no separator: finds the "CC99" of an IBAN
    let cardRun = 0; // digits joined by single spaces or dashes: the longest card or SSN this value can hold
    let cardMax = 0;
    let cardSep = false;
    let phoneRun = 0; // digits joined by up to two of " -.()": the longest phone number
    let phoneMax = 0;
    let phoneSeps = 0; // separator groups inside the current phone run: a NANP number needs two
    let phoneStreak = 0;
    let phoneCand = false;

    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 64) {
        // letters and everything above '@': no detector's digit run continues through them (the common case in text)
        pureRun = 0;
        cardRun = 0;
        cardSep = false;
        phoneRun = 0;
        phoneSeps = 0;
        phoneStreak = 0;
        continue;
      }
      if (c >= 48 && c <= 57) {
        digits++;
        if (++pureRun === 2 && i >= 3 && !ibanHint) ibanHint = ibanPrefixAt(s, i - 3);
        cardSep = false;
        if (++cardRun > cardMax) cardMax = cardRun;
        phoneStreak = 0;
        if (++phoneRun > phoneMax) phoneMax = phoneRun;
        if (phoneRun >= 10 && phoneSeps >= 2) phoneCand = true;
        continue;
      }
      pureRun = 0;
      if (c === 32 || c === 45) {
        if (cardSep || cardRun === 0) {
          cardRun = 0;
          cardSep = false;
        } else cardSep = true;
      } else {
        cardRun = 0;
        cardSep = false;
      }
      if (c === 32 || c === 45 || c === 46 || c === 40 || c === 41) {
        if (phoneStreak++ === 0) phoneSeps++;
        if (phoneStreak > 2) {
          phoneRun = 0;
          phoneSeps = 0;
        }
        if (c === 46) dots++;
        else if (c === 45) dashes++;
      } else {
        phoneRun = 0;
        phoneSeps = 0;
        phoneStreak = 0;
        if (c === 64) sawAt = true;
        else if (c === 58) colons++;
        else if (c === 43) sawPlus = true;
      }
    }

    let want = 0;
    if (sawAt) want |= EMAIL_BIT;
    if (ibanHint && n >= 15) want |= IBAN_BIT;
    if (cardMax >= 13) want |= CARD_BIT;
    if (cardMax >= 9 && dashes >= 2) want |= SSN_BIT;
    const ip6 = colons >= 2 && digits >= 1;
    const ip4 = dots >= 3 && digits >= 4;
    if (ip6 || ip4) want |= IP_BIT;
    if (phoneCand || (sawPlus && phoneMax >= 8)) want |= PHONE_BIT;
    want &= this.enabled;
    if (want === 0) return 0;

    // Priority order: an earlier detector's span wins an overlap, so an e-mail's digits are not also a phone, an
    // IBAN's digits not also a card, and an IPv4-mapped IPv6 address is one finding.
    if (want & EMAIL_BIT) this.findEmails(s);
    if (want & IBAN_BIT) this.findIbans(s);
    if (want & CARD_BIT) this.findCards(s);
    if (want & SSN_BIT) this.findSsns(s);
    if (want & IP_BIT) {
      if (ip6) this.findIpv6(s);
      if (ip4) this.findIpv4(s);
    }
    if (want & PHONE_BIT) {
      if (sawPlus) this.findE164(s);
      if (phoneCand) this.findNanp(s);
    }
    return this.count;
  }

  /** The last scanned value with every finding replaced by its token; call only when `scan` returned > 0. */
  render(s: string): string {
    const { starts, ends, kinds } = this;
    const count = this.count;
    // insertion sort: a value holds a handful of findings at most
    for (let i = 1; i < count; i++) {
      const st = starts[i];
      const en = ends[i];
      const kd = kinds[i];
      let j = i - 1;
      while (j >= 0 && starts[j] > st) {
        starts[j + 1] = starts[j];
        ends[j + 1] = ends[j];
        kinds[j + 1] = kinds[j];
        j--;
      }
      starts[j + 1] = st;
      ends[j + 1] = en;
      kinds[j + 1] = kd;
    }
    let out = '';
    let last = 0;
    for (let i = 0; i < count; i++) {
      out += s.slice(last, starts[i]) + detectorTokens[kinds[i]];
      last = ends[i];
    }
    return out + s.slice(last);
  }

  /** Records a finding unless it overlaps one already accepted (from a detector with higher priority). */
  private add(start: number, end: number, kind: number): void {
    const { starts, ends } = this;
    for (let i = 0; i < this.count; i++) if (start < ends[i] && end > starts[i]) return;
    const k = this.count++;
    starts[k] = start;
    ends[k] = end;
    this.kinds[k] = kind;
  }

  /**
   * E-mail addresses, found from each `@` outward rather than with one regex: a regex anchored on the local part
   * rescans that part from every start position and goes quadratic on long text.
   */
  private findEmails(s: string): void {
    const n = s.length;
    let at = s.indexOf('@');
    while (at >= 0) {
      let a = at;
      while (a > 0 && isLocalChar(s.charCodeAt(a - 1))) a--;
      while (a < at && s.charCodeAt(a) === 46) a++; // a leading dot ends the previous sentence
      let b = at + 1;
      while (b < n && isDomainChar(s.charCodeAt(b))) b++;
      while (b > at + 1 && (s.charCodeAt(b - 1) === 46 || s.charCodeAt(b - 1) === 45)) b--;
      if (a < at && validDomain(s, at + 1, b)) {
        this.add(a, b, EMAIL);
        at = s.indexOf('@', b);
      } else at = s.indexOf('@', at + 1);
    }
  }

  private findIbans(s: string): void {
    const re = this.ibanRe;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const start = m.index;
      const length = ibanLength(s, start);
      if (length === 0) continue;
      // take exactly the registered length: the pattern may have run on into a following upper-case word
      let seen = 0;
      let i = start;
      const limit = start + m[0].length;
      while (i < limit && seen < length) {
        if (s.charCodeAt(i) !== 32) seen++;
        i++;
      }
      if (seen < length) continue;
      if (i < s.length && isAsciiAlnum(s.charCodeAt(i))) continue; // glued to more characters: wrong length
      if (ibanMod97Valid(s, start, i)) this.add(start, i, IBAN);
    }
  }

  private findCards(s: string): void {
    const re = this.cardRe;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) this.cardRun(s, m.index, m.index + m[0].length);
  }

  /**
   * A maximal run of digit groups. The whole run is a card when it has 13-19 digits and passes the checks; otherwise
   * the longest consecutive groups that do are, so "order 12 4111 1111 1111 1111" still hides the card. A last group
   * glued to a word or to a decimal part ("… 1111 192.168.1.20") belongs to that other token and is left out.
   */
  private cardRun(s: string, start: number, end: number): void {
    let digits = 0;
    let groups = 1;
    for (let i = start; i < end; i++) {
      if (isDigit(s.charCodeAt(i))) digits++;
      else groups++;
    }
    const n = s.length;
    const after = end < n ? s.charCodeAt(end) : 0;
    const gluedEnd = isWordChar(after) || (after === 46 && end + 1 < n && isDigit(s.charCodeAt(end + 1)));
    if (!gluedEnd && digits >= 13 && digits <= 19 && cardValid(s, start, end)) {
      this.add(start, end, CARD);
      return;
    }
    if (groups === 1) return; // one long bare number: an id, not a card
    // rare path (a long digit run that is not itself a card): materialise the group bounds
    const gs: number[] = [];
    const ge: number[] = [];
    const gd: number[] = [];
    let g = start;
    for (let i = start; i <= end; i++) {
      if (i === end || !isDigit(s.charCodeAt(i))) {
        gs.push(g);
        ge.push(i);
        gd.push(i - g);
        g = i + 1;
      }
    }
    const usable = gluedEnd ? gs.length - 1 : gs.length;
    let i = 0;
    while (i < usable) {
      let found = -1;
      let d = 0;
      for (let j = i; j < usable; j++) {
        d += gd[j];
        if (d > 19) break;
        if (d >= 13 && cardValid(s, gs[i], ge[j])) found = j;
      }
      if (found >= 0) {
        this.add(gs[i], ge[found], CARD);
        i = found + 1;
      } else i++;
    }
  }

  private findSsns(s: string): void {
    const re = this.ssnRe;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const p = m.index;
      // SSA rules: area 000, 666 and 900-999 are never issued, nor group 00 or serial 0000
      const area = digitsAt(s, p, 3);
      const group = digitsAt(s, p + 4, 2);
      const serial = digitsAt(s, p + 7, 4);
      if (area === 0 || area === 666 || area >= 900 || group === 0 || serial === 0) continue;
      this.add(p, p + 11, SSN);
    }
  }

  private findIpv4(s: string): void {
    const re = this.ipv4Re;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) {
      const start = m.index;
      const end = start + m[0].length;
      let octet = 0;
      let ok = true;
      for (let i = start; i <= end; i++) {
        const c = i < end ? s.charCodeAt(i) : 46;
        if (c === 46) {
          if (octet > 255) {
            ok = false;
            break;
          }
          octet = 0;
        } else octet = octet * 10 + (c - 48);
      }
      if (ok) this.add(start, end, IP);
    }
  }

  /**
   * IPv6: each `:` is widened to its token of hex digits, colons and dots; tokens that could be an address by their
   * colon count are confirmed with `net.isIPv6`. Clock times ("12:30:45") fail the count and are never sliced.
   */
  private findIpv6(s: string): void {
    const n = s.length;
    let p = s.indexOf(':');
    while (p >= 0) {
      let a = p;
      while (a > 0 && isV6Char(s.charCodeAt(a - 1))) a--;
      let b = p + 1;
      while (b < n && isV6Char(s.charCodeAt(b))) b++;
      const next = b;
      while (b > a && s.charCodeAt(b - 1) === 46) b--; // sentence full stop
      if ((a === 0 || !isWordChar(s.charCodeAt(a - 1))) && (next === n || !isWordChar(s.charCodeAt(next)))) {
        let colons = 0;
        let doubleColon = false;
        let dots = 0;
        let hasDigit = false;
        for (let i = a; i < b; i++) {
          const c = s.charCodeAt(i);
          if (c === 58) {
            colons++;
            if (i > a && s.charCodeAt(i - 1) === 58) doubleColon = true;
          } else if (c === 46) dots++;
          else if (c >= 48 && c <= 57) hasDigit = true;
        }
        const plausible = colons <= 7 && (doubleColon || colons === 7 || (colons === 6 && dots === 3));
        if (colons >= 2 && hasDigit && plausible && isIPv6(s.slice(a, b))) this.add(a, b, IP);
      }
      p = s.indexOf(':', next);
    }
  }

  /**
   * International numbers: `+`, then 8-15 digits in groups separated by at most two of " .-()" (E.164 allows 15).
   * When the digits run on past 15, the number ends at the last group boundary that still fits.
   */
  private findE164(s: string): void {
    const n = s.length;
    let p = s.indexOf('+');
    while (p >= 0) {
      let end = -1;
      if (p + 1 < n && isDigit(s.charCodeAt(p + 1)) && (p === 0 || !isAsciiAlnum(s.charCodeAt(p - 1)))) {
        let digits = 0;
        let streak = 0;
        for (let j = p + 1; j < n; j++) {
          const c = s.charCodeAt(j);
          if (c >= 48 && c <= 57) {
            streak = 0;
            if (++digits > 15) break;
            if (digits >= 8 && (j + 1 === n || !isDigit(s.charCodeAt(j + 1)))) end = j + 1;
          } else if (c === 32 || c === 45 || c === 46 || c === 40 || c === 41) {
            if (++streak > 2) break;
          } else break;
        }
        if (end > 0 && end < n && isWordChar(s.charCodeAt(end))) end = -1; // part of an identifier
      }
      if (end > 0) {
        this.add(p, end, PHONE);
        p = s.indexOf('+', end);
      } else p = s.indexOf('+', p + 1);
    }
  }

  private findNanp(s: string): void {
    const re = this.nanpRe;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s)) !== null) this.add(m.index, m.index + m[0].length, PHONE);
  }
}

/** True when `s[i, i+4)` is two upper-case letters of an IBAN country and two digits, at a word start. */
function ibanPrefixAt(s: string, i: number): boolean {
  if (i > 0 && isAsciiAlnum(s.charCodeAt(i - 1))) return false;
  return ibanLength(s, i) !== 0;
}

/**
 * Card numbers: Luhn-valid and starting like an issued card (2 = Mastercard 22-27, 3 = Amex/Diners/JCB 30, 34-39,
 * 4 = Visa, 5 = Mastercard/Maestro, 6 = Discover/UnionPay/Maestro). The prefix check keeps 13-digit epoch
 * milliseconds and other 1-leading ids, a tenth of which pass Luhn by chance, out of the findings.
 */
function cardValid(s: string, start: number, end: number): boolean {
  const first = s.charCodeAt(start) - 48;
  let second = -1;
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      second = c - 48;
      break;
    }
  }
  switch (first) {
    case 2:
      if (second < 2 || second > 7) return false;
      break;
    case 3:
      if (second >= 1 && second <= 3) return false;
      break;
    case 4:
    case 5:
    case 6:
      break;
    default:
      return false;
  }
  return luhnValid(s, start, end);
}

/** The integer value of `len` ASCII digits at `s[i]`. */
function digitsAt(s: string, i: number, len: number): number {
  let v = 0;
  for (let k = 0; k < len; k++) v = v * 10 + (s.charCodeAt(i + k) - 48);
  return v;
}

/** Letters of internationalised addresses: anything from U+00C0 up except punctuation, symbols and spaces blocks. */
function isIntlLetter(c: number): boolean {
  return (
    c >= 0xc0 &&
    c !== 0xd7 &&
    c !== 0xf7 &&
    !(c >= 0x2000 && c <= 0x2bff) &&
    !(c >= 0x3000 && c <= 0x303f) &&
    !(c >= 0xfe00 && c <= 0xfe6f) &&
    !(c >= 0xff00 && c <= 0xff0f) &&
    c !== 0xfeff
  );
}

/** Local-part characters people actually use: letters, digits and . _ % + - ' (quoted local parts are not matched). */
function isLocalChar(c: number): boolean {
  return isAsciiAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c === 39 || isIntlLetter(c);
}

function isDomainChar(c: number): boolean {
  return isAsciiAlnum(c) || c === 46 || c === 45 || isIntlLetter(c);
}

/** A host name with at least two labels, no empty label, and an alphabetic top-level label of two or more. */
function validDomain(s: string, start: number, end: number): boolean {
  if (end - start < 4) return false;
  let lastDot = -1;
  let prev = 46; // treat the start as after a dot so a leading dot or dash is refused
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (prev === 46 || prev === 45) return false;
      lastDot = i;
    } else if (c === 45 && prev === 46) return false;
    prev = c;
  }
  if (lastDot < 0 || end - lastDot - 1 < 2) return false;
  for (let i = lastDot + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || isIntlLetter(c))) return false;
  }
  return true;
}

function isV6Char(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
}

function isWordChar(c: number): boolean {
  return isAsciiAlnum(c) || c === 95;
}
