// Docs that are tested: every YAML snippet in the README and docs/ parses, and every snippet that is a whole config
// file (it starts with `version: 1`) loads and validates, so an example that no longer matches the schema fails here
// with the file and line where the snippet starts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocument } from 'yaml';
import { parseConfig } from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

interface Snippet {
  where: string;
  text: string;
}

/** The fenced ```yaml blocks of one Markdown file, each with the line its fence opens on. */
export function yamlSnippets(file: string, markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```yaml') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    out.push({ where: `${file}:${start}`, text: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

const snippets = documents.flatMap((file) => yamlSnippets(file, readFileSync(join(root, file), 'utf8')));

describe('the YAML snippets of the README and docs/', () => {
  it('finds the README config example', () => {
    assert.ok(snippets.some((s) => s.where.startsWith('README.md:') && /^version: 1$/m.test(s.text)), 'the README holds a whole config example');
  });

  for (const s of snippets) {
    it(`${s.where} parses as YAML`, () => {
      const doc = parseDocument(s.text);
      assert.deepEqual(
        doc.errors.map((e) => e.message.split('\n')[0]),
        [],
        `${s.where}: the snippet is not valid YAML`,
      );
    });
    if (/^version: 1$/m.test(s.text)) {
      it(`${s.where} is a config file that loads and validates`, () => {
        assert.doesNotThrow(() => parseConfig(s.text, s.where), (err: Error) => `${s.where}: ${err.message}`);
      });
    }
  }
});

describe('YAML syntax errors in a config file', () => {
  it('name the line and the column', () => {
    assert.throws(
      () => parseConfig('version: 1\nconnections:\n  demo: { type: postgres, adminUrl: ${X} }\n', 'bad.yaml'),
      (err: Error) => {
        assert.match(err.message, /^bad\.yaml: invalid configuration:\n {2}- line 3, column 38: /);
        return true;
      },
    );
  });
});
