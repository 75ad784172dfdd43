import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DetectorName } from '@airlock/contracts';
import { MaskingPlanError, allDetectors, detect } from '../src/index.js';

test('allDetectors lists every detector once, in contract order', () => {
  assert.deepEqual([...allDetectors], ['email', 'card', 'ssn', 'iban', 'phone', 'ip']);
});

/** Values that must be found, each with the exact text expected after masking (all detectors on). */
const positives: Array<{ kind: DetectorName; value: string; want: string; count?: number }> = [
  // email
  { kind: 'email', value: 'ann@example.com', want: '[email]' },
  { kind: 'email', value: 'Contact ann@example.com today.', want: 'Contact [email] today.' },
  { kind: 'email', value: 'mail (ann.lee+news@mail.example.co.uk) now', want: 'mail ([email]) now' },
  { kind: 'email', value: 'to: o\'brien@example.org, cc: x_y@example.io', want: 'to: [email], cc: [email]', count: 2 },
  { kind: 'email', value: 'mailto:ann@example.com', want: 'mailto:[email]' },
  { kind: 'email', value: 'josé.müller@exämple.de wrote', want: '[email] wrote' },
  { kind: 'email', value: 'End of sentence ann@example.com.', want: 'End of sentence [email].' },
  { kind: 'email', value: 'user4111111111111111@example.com', want: '[email]' },
  // card
  { kind: 'card', value: '4111 1111 1111 1111', want: '[card]' },
  { kind: 'card', value: '5500-0000-0000-0004', want: '[card]' },
  { kind: 'card', value: '378282246310005', want: '[card]' },
  { kind: 'card', value: '4111111111111111', want: '[card]' },
  { kind: 'card', value: '6011 1111 1111 1117', want: '[card]' },
  { kind: 'card', value: '3782 822463 10005', want: '[card]' },
  { kind: 'card', value: '2223000048400011', want: '[card]' },
  { kind: 'card', value: 'Paid with 4111 1111 1111 1111 yesterday', want: 'Paid with [card] yesterday' },
  { kind: 'card', value: 'card:5500000000000004.', want: 'card:[card].' },
  { kind: 'card', value: 'order 12 4111 1111 1111 1111 shipped', want: 'order 12 [card] shipped' },
  { kind: 'card', value: 'card 4111 1111 1111 1111 2.5 kg', want: 'card [card] 2.5 kg' },
  { kind: 'card', value: 'two cards 4111111111111111 and 5500 0000 0000 0004', want: 'two cards [card] and [card]', count: 2 },
  // ssn
  { kind: 'ssn', value: '123-45-6789', want: '[ssn]' },
  { kind: 'ssn', value: 'SSN: 078-05-1120 on file', want: 'SSN: [ssn] on file' },
  { kind: 'ssn', value: '(665-12-3456)', want: '([ssn])' },
  // iban
  { kind: 'iban', value: 'GB82 WEST 1234 5698 7654 32', want: '[iban]' },
  { kind: 'iban', value: 'DE89370400440532013000', want: '[iban]' },
  { kind: 'iban', value: 'IBAN DE89 3704 0044 0532 0130 00 EUR', want: 'IBAN [iban] EUR' },
  { kind: 'iban', value: 'pay to FR1420041010050500013M02606 by Friday', want: 'pay to [iban] by Friday' },
  { kind: 'iban', value: 'NO9386011117947', want: '[iban]' },
  { kind: 'iban', value: 'account GB82WEST12345698765432.', want: 'account [iban].' },
  // phone
  { kind: 'phone', value: '+1 415 555 2671', want: '[phone]' },
  { kind: 'phone', value: '(415) 555-2671', want: '[phone]' },
  { kind: 'phone', value: '(415)555-2671', want: '[phone]' },
  { kind: 'phone', value: '555-123-4567', want: '[phone]' },
  { kind: 'phone', value: '555.123.4567', want: '[phone]' },
  { kind: 'phone', value: '1-800-555-1234', want: '[phone]' },
  { kind: 'phone', value: '+14155552671', want: '[phone]' },
  { kind: 'phone', value: '+44 20 7946 0958', want: '[phone]' },
  { kind: 'phone', value: '+1 (415) 555-2671', want: '[phone]' },
  { kind: 'phone', value: 'call +49 30 1234567 or (415) 555-2671', want: 'call [phone] or [phone]', count: 2 },
  { kind: 'phone', value: '+44 20 7946 0958 12345', want: '[phone] 12345' },
  // ip
  { kind: 'ip', value: '192.168.1.20', want: '[ip]' },
  { kind: 'ip', value: 'from 10.0.0.1:5432 at noon', want: 'from [ip]:5432 at noon' },
  { kind: 'ip', value: '255.255.255.255', want: '[ip]' },
  { kind: 'ip', value: 'net 10.0.0.0/8', want: 'net [ip]/8' },
  { kind: 'ip', value: '2001:db8::1', want: '[ip]' },
  { kind: 'ip', value: 'my ip is 2001:db8::1.', want: 'my ip is [ip].' },
  { kind: 'ip', value: 'fe80::1ff:fe23:4567:890a', want: '[ip]' },
  { kind: 'ip', value: '2001:0db8:85a3:0000:0000:8a2e:0370:7334', want: '[ip]' },
  { kind: 'ip', value: '::ffff:192.168.1.1', want: '[ip]' },
  { kind: 'ip', value: '::1', want: '[ip]' },
  { kind: 'ip', value: 'release 1.2.3.4', want: 'release [ip]' }, // a four-part version is a valid address: documented
];

for (const c of positives) {
  test(`detect ${c.kind}: finds ${JSON.stringify(c.value)}`, () => {
    const out = detect(c.value, allDetectors);
    assert.equal(out.value, c.want);
    assert.deepEqual(out.found, { [c.kind]: c.count ?? 1 });
    // the detector alone finds it too
    assert.equal(detect(c.value, [c.kind]).value, c.want);
  });
}

/** Values that must come back unchanged with every detector on. */
const negatives: Array<{ why: string; value: string }> = [
  { why: 'Luhn fails', value: '4111 1111 1111 1112' },
  { why: 'Luhn fails, bare', value: '4111111111111112' },
  { why: 'Luhn-valid but no card prefix (epoch ms)', value: '1705312245123' },
  { why: 'too long for a card', value: '41111111111111111111' },
  { why: 'card glued to letters', value: 'x4111111111111111y' },
  { why: 'card digits with a decimal part', value: '4111111111111111.25' },
  { why: '13-digit amount', value: '5123456789012.34' },
  { why: 'SSN area 000', value: '000-12-3456' },
  { why: 'SSN area 666', value: '666-12-3456' },
  { why: 'SSN area 9xx', value: '912-34-5678' },
  { why: 'SSN group 00', value: '123-00-4567' },
  { why: 'SSN serial 0000', value: '123-45-0000' },
  { why: 'bare nine digits are not an SSN', value: '123456789' },
  { why: 'SSN shape inside a longer number', value: '2123-45-67890' },
  { why: 'ISO date', value: '2024-01-15' },
  { why: 'date with time', value: '2024-01-15 12:30:45' },
  { why: 'ISO timestamp', value: '2024-01-15T12:30:45.123Z' },
  { why: 'US date', value: '01/15/2024' },
  { why: 'dotted date', value: '15.01.2024' },
  { why: 'clock time', value: '12:30:45' },
  { why: 'clock range', value: 'Delivery window 09:00-12:00' },
  { why: 'order total', value: '1234.56' },
  { why: 'negative amount', value: '-98765.43' },
  { why: 'big amount', value: '12,345,678.90' },
  { why: 'Snowflake epoch timestamp', value: '1705312245.123000000' },
  { why: 'id', value: '123456' },
  { why: 'ten-digit id', value: '4155552671' },
  { why: 'IBAN mod-97 fails', value: 'GB00 WEST 1234 5698 7654 32' },
  { why: 'IBAN wrong length', value: 'DE8937040044053201300' },
  { why: 'IBAN unknown country', value: 'ZZ82 WEST 1234 5698 7654 32' },
  { why: 'version string', value: '1.2.3' },
  { why: 'version with v', value: 'v1.2.3.4' },
  { why: 'octet over 255', value: '999.1.1.1' },
  { why: 'five dotted numbers', value: '1.2.3.4.5' },
  { why: 'MAC address', value: '00:1a:2b:3c:4d:5e' },
  { why: 'C++ scope', value: 'std::vector<int>' },
  { why: 'double colon without digit', value: 'see note:: here' },
  { why: 'phone separators mixed', value: '415-555.2671' },
  { why: 'card fragment groups', value: '4111-1111-1111' },
  { why: 'plain number list', value: '100 200 3000' },
  { why: 'space-only phone groups (documented)', value: '415 555 2671' },
  { why: 'lower-case IBAN (documented)', value: 'gb82 west 1234 5698 7654 32' },
  { why: 'SSN with spaces (documented)', value: '123 45 6789' },
  { why: 'plus and short number', value: '+12345' },
  { why: 'at sign without domain', value: 'meet @ noon' },
  { why: 'handle', value: '@ann_lee' },
  { why: 'host without TLD', value: 'root@localhost' },
  { why: 'numeric TLD', value: 'a@1.2' },
  { why: 'name', value: 'Jürgen Müller' },
  { why: 'empty', value: '' },
  { why: 'short', value: 'a' },
  { why: 'emoji', value: '😀😀😀' },
  { why: 'uuid', value: '3f2504e0-4f89-11d3-9a0c-0305e82c3301' },
  { why: 'sentence with numbers', value: 'Order 48213 placed 2024-03-02, total 129.99' },
];

for (const c of negatives) {
  test(`detect: leaves ${JSON.stringify(c.value)} (${c.why})`, () => {
    const out = detect(c.value, allDetectors);
    assert.equal(out.value, c.value);
    assert.deepEqual(out.found, {});
  });
}

test('detect: only the listed detectors run', () => {
  const text = 'ann@example.com 4111 1111 1111 1111 123-45-6789 192.168.1.20';
  assert.equal(detect(text, ['email']).value, '[email] 4111 1111 1111 1111 123-45-6789 192.168.1.20');
  assert.equal(detect(text, ['card', 'ip']).value, 'ann@example.com [card] 123-45-6789 [ip]');
  assert.equal(detect(text, []).value, text);
  assert.deepEqual(detect(text, allDetectors).found, { email: 1, card: 1, ssn: 1, ip: 1 });
});

test('detect: a card next to an IP address keeps both findings apart', () => {
  const out = detect('4111 1111 1111 1111 192.168.1.20', allDetectors);
  assert.deepEqual(out, { value: '[card] [ip]', found: { card: 1, ip: 1 } });
});

test('detect: the IBAN wins over a card-like run inside it', () => {
  // the BBAN digits of this IBAN form a Luhn-valid 16-digit run; they must be reported once, as an IBAN
  const out = detect('GB82 WEST 1234 5698 7654 32', allDetectors);
  assert.deepEqual(out, { value: '[iban]', found: { iban: 1 } });
});

test('detect: several kinds in one note keep the rest of the text', () => {
  const note = 'Ann (ann@example.com, +1 415 555 2671) paid 4111-1111-1111-1111 from 10.1.2.3; SSN 123-45-6789.';
  const out = detect(note, allDetectors);
  assert.equal(out.value, 'Ann ([email], [phone]) paid [card] from [ip]; SSN [ssn].');
  assert.deepEqual(out.found, { email: 1, phone: 1, card: 1, ip: 1, ssn: 1 });
});

test('detect: returns the same string instance when nothing is found', () => {
  const value = 'nothing to see here 12345';
  assert.equal(detect(value, allDetectors).value, value);
});

test('detect: long text without findings stays linear (no regex blow-up)', () => {
  const long = 'a.'.repeat(20000) + '@' + '1 '.repeat(20000) + ':'.repeat(5000) + '+1'.repeat(5000);
  const t0 = process.hrtime.bigint();
  detect(long, allDetectors);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test('detect: unknown detector names are refused', () => {
  assert.throws(() => detect('x', ['email', 'passport' as DetectorName]), MaskingPlanError);
});
