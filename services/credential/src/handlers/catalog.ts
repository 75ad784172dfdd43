import { credentialV1 } from '@airlock/contracts';
import { engineFor } from '../engine-for.js';
import type { CredentialParts } from '../parts.js';

/** `credential.v1.catalog`: a connection's tables and columns, read with its admin principal. */
export function serveCatalog(parts: CredentialParts): void {
  parts.bus.serve(credentialV1.catalog, async (req) => {
    const engine = engineFor(parts.engines, req.connection);
    return { connection: req.connection, searchPath: engine.searchPath(), tables: await engine.catalog() };
  });
}
