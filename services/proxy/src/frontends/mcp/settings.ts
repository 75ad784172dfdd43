export const defaultResource = 'http://127.0.0.1:8080/mcp';
export const defaultMaxRows = 1000;
/** rows a `query` call returns when the agent names no limit */
export const defaultQueryRows = 100;

/** The MCP endpoint's settings, resolved once from the config file. */
export interface McpSettings {
  /** the canonical URL of the endpoint: the only audience accepted, and the `resource` of its metadata */
  resource: string;
  authorizationServers: string[];
  /** where clients find the protected resource metadata (RFC 9728 §3.1: path inserted after the host) */
  metadataUrl: string;
  /** the path form of the metadata route on this server, e.g. /.well-known/oauth-protected-resource/mcp */
  metadataPath: string;
  /** exact origins allowed besides an absent Origin header */
  allowedOrigins: ReadonlySet<string>;
  maxRows: number;
  /** what a use of a masked column other than output meets (`masking.inference`), as describe_table reports it */
  inference: 'deny' | 'approval';
}

export const wellKnown = '/.well-known/oauth-protected-resource';
