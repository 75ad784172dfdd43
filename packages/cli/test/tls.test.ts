// The demo certificate generated at start (compose's tls-init service, the Helm chart's init container): a real TLS
// server with it is verified by a client that trusts only it, for every host name and address given, and for no other;
// the key is readable by its owner only; an existing pair (a real certificate put in place) is never overwritten.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tlsCommand } from '../src/commands/tls.js';

function get(port: number, servername: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', servername, ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

describe('airlock tls self-signed', () => {
  it('writes a certificate that verifies for the hosts given, keeps an existing one, and guards the key', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'airlock-tls-init-')), 'tls');
    const lines: string[] = [];
    assert.equal(await tlsCommand(['self-signed', '--dir', dir, '--hosts', 'localhost,127.0.0.1,approval'], (l) => lines.push(l)), 0);
    assert.match(lines[0]!, /^wrote a self-signed certificate for localhost, 127\.0\.0\.1, approval to .*tls\.crt \(SHA-256 [0-9A-F:]{95}\); demo only$/);
    assert.equal(statSync(join(dir, 'tls.key')).mode & 0o777, 0o600);
    const cert = readFileSync(join(dir, 'tls.crt'));
    const server = https.createServer({ cert, key: readFileSync(join(dir, 'tls.key')) }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      assert.equal(await get(port, 'approval', cert), 'ok');
      assert.equal(await get(port, 'localhost', cert), 'ok');
      await assert.rejects(get(port, 'elsewhere.example', cert), /Hostname\/IP does not match certificate's altnames/);
      await assert.rejects(get(port, 'approval', Buffer.from('')), /self-signed certificate|unable to verify/);
    } finally {
      server.close();
    }
    // a second start keeps the pair, whatever it is
    writeFileSync(join(dir, 'tls.crt'), cert);
    const before = readFileSync(join(dir, 'tls.key'), 'utf8');
    lines.length = 0;
    assert.equal(await tlsCommand(['self-signed', '--dir', dir, '--hosts', 'other'], (l) => lines.push(l)), 0);
    assert.match(lines[0]!, /^kept the certificate in /);
    assert.equal(readFileSync(join(dir, 'tls.key'), 'utf8'), before);
    assert.equal(await tlsCommand(['self-signed', '--dir', dir], () => undefined), 1, 'hosts are required');
  });
});
