import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { FormatRegistry } from '@sinclair/typebox';
import { AirlockError } from './errors.js';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const dateTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
// TypeBox keeps formats in one registry per process; registering the same checks again is harmless
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => uuidPattern.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => dateTimePattern.test(v) && !Number.isNaN(Date.parse(v)));

/** Compiles each schema once per owner and validates values against it. */
export class Validator {
  readonly #compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

  check<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
    return this.#get(schema).Check(value);
  }

  /** Throws `runtime.invalid_request` (or the given code) naming the first problems, never echoing values. */
  assert<T extends TSchema>(
    schema: T,
    value: unknown,
    what: string,
    code: 'runtime.invalid_request' | 'runtime.invalid_response' | 'runtime.internal' = 'runtime.invalid_request',
  ): asserts value is Static<T> {
    const check = this.#get(schema);
    if (check.Check(value)) return;
    const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || '/'}: ${e.message}`);
    throw new AirlockError(code, `${what} does not match its schema: ${problems.join('; ')}`, { problems });
  }

  #get<T extends TSchema>(schema: T): TypeCheck<T> {
    let c = this.#compiled.get(schema);
    if (!c) {
      c = TypeCompiler.Compile(schema);
      this.#compiled.set(schema, c);
    }
    return c as TypeCheck<T>;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(data: Uint8Array): unknown {
  if (data.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    throw new AirlockError('runtime.invalid_request', 'message body is not valid JSON');
  }
}
