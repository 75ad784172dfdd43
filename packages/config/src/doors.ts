import type { AirlockConfig, Issuer } from './schema.js';

/** The doors a token opens; each takes its own audience, so a token made for one is refused at the others. */
export type Door = 'database' | 'mcp' | 'approval' | 'audit';

/** The audiences of the demo and of a config that names none: one per door. */
export const defaultDoorAudiences = Object.freeze({
  mcp: 'http://127.0.0.1:8080/mcp',
  approval: 'http://127.0.0.1:8081',
  audit: 'http://127.0.0.1:8082',
});

/** How a refusal names each door. */
export const doorNames: Readonly<Record<Door, string>> = Object.freeze({
  database: 'the database door (PostgreSQL or Snowflake)',
  mcp: 'the MCP endpoint',
  approval: 'the approval API',
  audit: 'the audit API',
});

/** The audience the config gives a door for every issuer that does not name its own in `doors`. */
export function configuredDoorAudience(config: AirlockConfig, door: Exclude<Door, 'database'>): string {
  switch (door) {
    case 'mcp':
      return config.mcp?.resource ?? defaultDoorAudiences.mcp;
    case 'approval':
      return config.approval?.audience ?? defaultDoorAudiences.approval;
    case 'audit':
      return config.audit?.audience ?? defaultDoorAudiences.audit;
  }
}

/**
 * The one audience a token of `issuer` must carry at `door`, or undefined when that issuer's tokens do not open the door:
 * the issuer's `doors` entry when it has one; else the first of its `audiences` for the database doors, and the door's
 * configured audience for the others when the issuer lists it.
 */
export function doorAudience(config: AirlockConfig, issuer: Issuer, door: Door): string | undefined {
  if (issuer.doors) return issuer.doors[door];
  if (door === 'database') return issuer.audiences[0];
  const audience = configuredDoorAudience(config, door);
  return issuer.audiences.includes(audience) ? audience : undefined;
}

/** The APIs the console calls as its signed-in person. */
export type ConsoleApi = 'approval' | 'audit';
export const consoleApis: readonly ConsoleApi[] = Object.freeze(['approval', 'audit']);

/**
 * The resource (RFC 8707) the console asks its OIDC IdP to issue an access token for, per API: the audience that API
 * takes from the console's issuer (its `doors` entry, else `approval.audience` / `audit.audience`, which default to the
 * APIs' own URLs), so the IdP's token and the API's check can never name two different things.
 */
export function consoleResource(config: AirlockConfig, api: ConsoleApi): string {
  const issuer = config.identity.issuers.find((i) => i.issuer === config.console?.oidc?.issuer);
  return (issuer && doorAudience(config, issuer, api)) ?? configuredDoorAudience(config, api);
}
