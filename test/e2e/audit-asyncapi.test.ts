import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity, type MessageInterface, type SchemaInterface } from '@asyncapi/parser';
import { allEvents } from '@airlock/contracts';
import { asyncApiPath, asyncApiText } from '../../scripts/asyncapi.js';

describe('the AsyncAPI document of the event stream', () => {
  it('is up to date with contracts/ (regenerate with: node --import tsx scripts/asyncapi.ts)', () => {
    assert.equal(readFileSync(asyncApiPath, 'utf8'), asyncApiText());
  });

  it('validates with the official AsyncAPI parser and documents every event subject with its payload schema', async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(asyncApiPath, 'utf8'));
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning);
    assert.deepEqual(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`), []);
    assert.ok(document, 'the parser returned no document');
    assert.equal(document.version(), '3.0.0');
    const channels = document.channels().all();
    assert.equal(channels.length, allEvents.length);
    for (const d of allEvents) {
      const key = `${d.family}.${d.version}.${d.event}`;
      const channel = document.channels().get(key);
      assert.ok(channel, `no channel for ${key}`);
      assert.equal(channel.address(), `{root}.evt.${key}`);
      const message: MessageInterface = channel.messages().all()[0]!;
      const payload: SchemaInterface = message.payload()!;
      assert.deepEqual(payload.required()?.slice().sort(), [...(d.payload.required ?? [])].sort(), key);
      assert.deepEqual(Object.keys(payload.properties() ?? {}).sort(), Object.keys(d.payload.properties).sort(), key);
      assert.equal(document.operations().get(`receive.${key}`)?.action(), 'receive');
    }
  });
});
