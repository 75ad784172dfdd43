import { AirlockError } from '@airlock/runtime';
import type { CredentialEngine } from './engines/engine.js';

/** The engine of a connection, or the error that tells the operator to fix its admin settings. */
export function engineFor(engines: ReadonlyMap<string, CredentialEngine>, connection: string): CredentialEngine {
  const engine = engines.get(connection);
  if (!engine) throw new AirlockError('credential.unknown_connection', `connection "${connection}" has no credential engine; check its admin settings`);
  return engine;
}
