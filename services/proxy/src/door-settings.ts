import type { AirlockConfig } from '@airlock/config';
import { defaultMaxRows, defaultResource, wellKnown, type McpSettings } from './frontends/mcp/settings.js';
import type { SnowflakeSettings } from './frontends/snowflake/settings.js';

// The front doors' settings, resolved from the config file here so that no door reads the config itself.

/** The MCP endpoint's settings. */
export function mcpSettings(config: AirlockConfig): McpSettings {
  const mcp = config.mcp ?? {};
  const resource = mcp.resource ?? defaultResource;
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const origins = new Set<string>([url.origin, ...(mcp.allowedOrigins ?? []).map((o) => new URL(o).origin)]);
  return {
    resource,
    authorizationServers: mcp.authorizationServers ?? config.identity.issuers.map((i) => i.issuer),
    metadataUrl: `${url.origin}${wellKnown}${path}`,
    metadataPath: `${wellKnown}${path}`,
    allowedOrigins: origins,
    maxRows: mcp.maxRows ?? defaultMaxRows,
    inference: config.masking?.inference ?? 'deny',
  };
}

/** The Snowflake front door's settings. */
export function snowflakeSettings(config: AirlockConfig): SnowflakeSettings {
  const connections: SnowflakeSettings['connections'] = Object.entries(config.connections).flatMap(([name, c]) =>
    c.type === 'snowflake'
      ? [{ name, ...(c.database !== undefined ? { database: c.database } : {}), ...(c.schema !== undefined ? { schema: c.schema } : {}), ...(c.warehouse !== undefined ? { warehouse: c.warehouse } : {}) }]
      : [],
  );
  // a held statement waits as long as an approval request can stay pending, plus a minute
  return { connections, approvalHoldMs: ((config.approval?.ttlSeconds ?? 900) + 60) * 1000 };
}
