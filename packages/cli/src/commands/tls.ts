import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

export const tlsUsage = `airlock tls self-signed --dir <dir> --hosts <name,ip,…> [--days 365] [--owner <uid:gid>]
  writes <dir>/tls.crt and <dir>/tls.key (a self-signed demo certificate for the hosts given) unless both exist;
  for anything real, give the services a certificate from your CA instead (proxy.tls, http.tls)`;

/** The names a certificate is for, as subjectAltName entries: DNS names and IP addresses. */
function altNames(hosts: string[]): Array<{ type: 2; value: string } | { type: 7; ip: string }> {
  return hosts.map((h) => (isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h }));
}

/**
 * Creates the demo's certificate at start where none is given, so that compose and Helm serve TLS from the first
 * start: clients then pin this certificate (`sslmode=verify-full sslrootcert=tls.crt`) or trust it for the demo.
 * An existing pair is kept, so a real certificate put in its place is never overwritten.
 */
export async function tlsCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'self-signed') {
    out(tlsUsage);
    return sub === '--help' || sub === '-h' ? 0 : 1;
  }
  const { values } = parseArgs({ args: rest, options: { dir: { type: 'string' }, hosts: { type: 'string' }, days: { type: 'string' }, owner: { type: 'string' } } });
  const hosts = (values.hosts ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (!values.dir || hosts.length === 0) {
    out(tlsUsage);
    return 1;
  }
  const certPath = join(values.dir, 'tls.crt');
  const keyPath = join(values.dir, 'tls.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    out(`kept the certificate in ${certPath} (SHA-256 ${new X509Certificate(readFileSync(certPath)).fingerprint256})`);
    return 0;
  }
  const days = Number(values.days ?? 365);
  if (!Number.isInteger(days) || days < 1) {
    out('--days must be a whole number of days, at least 1');
    return 1;
  }
  const pems = await generate([{ name: 'commonName', value: hosts[0]! }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + days * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNames(hosts) },
    ],
  } as Parameters<typeof generate>[1]);
  mkdirSync(values.dir, { recursive: true });
  // the key is readable by its owner only: the service user, when this runs as root for a fresh volume
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert, { mode: 0o644 });
  if (values.owner) {
    const [uid, gid] = values.owner.split(':').map(Number);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
      out('--owner is <uid:gid>, numbers');
      return 1;
    }
    for (const p of [values.dir, keyPath, certPath]) chownSync(p, uid!, gid!);
  }
  out(`wrote a self-signed certificate for ${hosts.join(', ')} to ${certPath} (SHA-256 ${new X509Certificate(pems.cert).fingerprint256}); demo only`);
  return 0;
}
