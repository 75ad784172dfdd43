import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { AirlockError } from './errors.js';

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
    code: 'runtime.invalid_request' | 'runtime.invalid_response' = 'runtime.invalid_request',
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
