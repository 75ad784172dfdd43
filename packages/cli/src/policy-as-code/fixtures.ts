import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';

/** A masking action as `airlock policy check` prints it: `clear`, `redact`, `null`, `email`, `hash` or `partial <n>`. */
export const actionPattern = '^(clear|redact|null|email|hash|partial [0-9]+)$';

export const Expectation = Type.Object(
  {
    decision: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('approval')]),
    /** the name of the deciding rule; null when no rule matches */
    rule: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    /** the error code of a denial, such as policy.inference_on_masked_column */
    code: Type.Optional(Type.String()),
    /** output column → action; every column not listed is expected in clear */
    masked: Type.Optional(Type.Record(Type.String(), Type.String({ pattern: actionPattern }))),
    /** text the reason given to the agent must contain */
    refusal: Type.Optional(Type.String({ minLength: 1 })),
    approvers: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export type Expectation = Static<typeof Expectation>;

export const Fixture = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    connection: Type.String({ minLength: 1 }),
    principal: Type.Object({ subject: Type.String({ minLength: 1 }), groups: Type.Array(Type.String()) }, { additionalProperties: false }),
    statement: Type.String({ minLength: 1 }),
    expect: Expectation,
  },
  { additionalProperties: false },
);
export type Fixture = Static<typeof Fixture>;

const FixtureFile = Type.Object({ fixtures: Type.Array(Fixture, { minItems: 1 }) }, { additionalProperties: false });
const check = TypeCompiler.Compile(FixtureFile);

/** One fixture and where it was written, for messages. */
export interface LoadedFixture extends Fixture {
  where: string;
}

export class FixtureFileError extends Error {
  constructor(file: string, problems: string[]) {
    super(`${file}: invalid policy fixtures:\n  - ${problems.join('\n  - ')}`);
    this.name = 'FixtureFileError';
  }
}

/** The fixture files of a directory (`*.yaml`, `*.yml`, in name order), or the one file given. */
export function fixtureFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/** Parses one fixture file; every problem is reported at once with its line. */
export function parseFixtures(text: string, file: string): LoadedFixture[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const problems = doc.errors.map((e) => {
    const pos = lc.linePos(e.pos[0]);
    return `line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`;
  });
  if (problems.length > 0) throw new FixtureFileError(file, problems);
  const value: unknown = doc.toJS();
  if (!check.Check(value)) {
    const seen = new Set<string>();
    for (const e of check.Errors(value)) {
      if (seen.has(e.path)) continue;
      seen.add(e.path);
      const at = `line ${lineOf(doc, lc, e.path)}: ${e.path || '/'}`;
      if (e.type === ValueErrorType.ObjectAdditionalProperties) problems.push(`${at}: unknown field "${e.path.split('/').at(-1)}"`);
      else if (e.type === ValueErrorType.StringPattern) problems.push(`${at}: "${String(e.value)}" is not a masking action (clear, redact, null, email, hash, partial <n>)`);
      else problems.push(`${at}: ${e.message}`);
    }
    throw new FixtureFileError(file, problems);
  }
  return value.fixtures.map((f, i) => ({ ...f, where: `${file}:${lineOf(doc, lc, `/fixtures/${i}`)}` }));
}

/** Reads one fixture file; `shown` is the name messages give it. */
export function loadFixtures(file: string, shown = file): LoadedFixture[] {
  return parseFixtures(readFileSync(file, 'utf8'), shown);
}

function lineOf(doc: Document, lc: LineCounter, pointer: string): number | string {
  const parts = pointer.split('/').slice(1);
  for (let n = parts.length; n >= 0; n--) {
    const path = parts.slice(0, n).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const node = n === 0 ? doc.contents : doc.getIn(path, true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return '?';
}
