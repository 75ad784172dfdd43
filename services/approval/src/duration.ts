import { AirlockError } from '@airlock/runtime';

const units: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };

/**
 * Parses an approval window: a whole number of seconds (number or digits) or units in decreasing order
 * (`1h`, `30m`, `1h30m`, `90s`, `1d`). Refuses zero, anything else, and windows longer than `maxSeconds`.
 */
export function parseWindow(input: string | number, maxSeconds: number): number {
  const seconds = toSeconds(input);
  if (seconds === undefined) {
    throw new AirlockError('approval.invalid_window', 'the window must be a number of seconds or a duration such as "30m", "1h" or "1h30m"');
  }
  if (seconds < 1) throw new AirlockError('approval.invalid_window', 'the window must be at least one second');
  if (seconds > maxSeconds) {
    throw new AirlockError('approval.invalid_window', `the window may be at most ${formatSeconds(maxSeconds)} (${maxSeconds} s); ask for a shorter one`, {
      maxSeconds,
    });
  }
  return seconds;
}

function toSeconds(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) ? input : undefined;
  const text = input.trim().toLowerCase();
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const m = /^(?:(\d{1,5})d)?(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/.exec(text);
  if (!m || text === '') return undefined;
  const [, d, h, mi, s] = m;
  return Number(d ?? 0) * units['d']! + Number(h ?? 0) * units['h']! + Number(mi ?? 0) * units['m']! + Number(s ?? 0);
}

/** `5400` → `1h30m`; what messages show. */
export function formatSeconds(seconds: number): string {
  if (seconds <= 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const [unit, size] of Object.entries(units)) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
