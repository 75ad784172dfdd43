import { isErrorCode } from '@airlock/contracts';
import { AirlockError } from '@airlock/runtime';

/**
 * Calls the approval and audit HTTP APIs as the signed-in person (their bearer token), so those services decide
 * and check everything themselves: the console never approves or reads on its own authority.
 */
export class Upstream {
  readonly #base: string;
  readonly #name: string;
  constructor(base: string, name: string) {
    this.#base = base.replace(/\/$/, '');
    this.#name = name;
  }

  async get<T>(path: string, bearer: string): Promise<T> {
    return this.#send<T>('GET', path, bearer);
  }

  async post<T>(path: string, bearer: string, body: unknown): Promise<T> {
    return this.#send<T>('POST', path, bearer, body);
  }

  async #send<T>(method: string, path: string, bearer: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
    } catch {
      throw new AirlockError('runtime.unavailable', `the ${this.#name} API did not answer; retry shortly`);
    }
    const json = (await res.json().catch(() => undefined)) as { code?: unknown; message?: unknown; details?: Record<string, unknown> } | undefined;
    if (!res.ok) {
      if (json && typeof json.code === 'string' && isErrorCode(json.code) && typeof json.message === 'string') {
        throw new AirlockError(json.code, json.message, json.details);
      }
      throw new AirlockError('runtime.invalid_response', `the ${this.#name} API answered HTTP ${res.status}`);
    }
    return json as T;
  }
}
