import type { FastifyReply, FastifyRequest } from 'fastify';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode as RpcErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, type Principal } from '@airlock/contracts';
import { AirlockError, toEnvelope, Validator } from '@airlock/runtime';
import type { HttpFrontDoorPlugin } from '../http/server.js';
import { callTool, findTool, listedTools, type Caller, type ToolEnv } from './tools.js';
import { wellKnown } from './settings.js';

export const mcpPath = '/mcp';
const serverVersion = '0.1.0';

const instructions =
  'Airlock gives you just-in-time, policy-checked access to databases. Start with list_connections, then list_tables and ' +
  'describe_table (it says which columns come back masked for you). Run SQL with query. A statement that needs an approver ' +
  'answers "pending" with an approval id: follow it with approval_status, or ask first with request_access and a justification.';

/** A quoted-string parameter of an HTTP auth challenge (RFC 9110 §11.2): no quote, backslash or control character inside. */
const quoted = (value: string) => `"${value.replace(/[^\x20-\x7e]/g, ' ').replace(/["\\]/g, '\\$&')}"`;

/** Token refusals that the resource server answers with 401 and `error="invalid_token"`. */
const tokenCodes = new Set<string>(['identity.invalid_token', 'identity.expired_token', 'identity.unknown_issuer', 'identity.audience_mismatch']);

/**
 * Airlock's own MCP endpoint: Streamable HTTP at /mcp, an OAuth 2.1 protected resource (RFC 9728 metadata, bearer
 * tokens verified by the identity service for this resource's audience alone; the token never goes upstream).
 *
 * Stateless: every POST carries its bearer token, is verified on its own, and gets a fresh MCP server bound to that
 * caller. No MCP session ties requests together, so there is no session to hijack or to keep in memory, any proxy
 * instance can answer any request, and nothing outlives a tool call: each call opens an Airlock session whose leases
 * are revoked when the call returns.
 */
export const mcpFrontDoor: HttpFrontDoorPlugin = async (app, door) => {
  const settings = door.mcp;
  const env: ToolEnv = { door, settings, validator: new Validator() };
  const tools = listedTools();
  const metadata = {
    resource: settings.resource,
    authorization_servers: settings.authorizationServers,
    bearer_methods_supported: ['header'],
    resource_name: 'Airlock',
  };

  const sendMetadata = async (_request: FastifyRequest, reply: FastifyReply) => {
    // public discovery data: any origin may read it, as browser-based MCP clients must
    void reply.header('access-control-allow-origin', '*').header('cache-control', 'max-age=300');
    return metadata;
  };
  app.get(wellKnown, sendMetadata);
  if (settings.metadataPath !== wellKnown) app.get(settings.metadataPath, sendMetadata);

  /** An absent Origin (a non-browser client) passes; a browser's must be this endpoint's own or configured (DNS rebinding). */
  const originAllowed = (origin: string | undefined) =>
    origin === undefined || settings.allowedOrigins.has(origin) || origin === new URL(door.baseUrl()).origin;

  const checkOrigin = (request: FastifyRequest, reply: FastifyReply): boolean => {
    const origin = request.headers.origin;
    if (!originAllowed(origin)) {
      void reply.status(403).send({ code: 'identity.forbidden', message: 'requests from this Origin are not accepted; use an MCP client or an allowed origin' });
      return false;
    }
    if (origin !== undefined) {
      void reply
        .header('access-control-allow-origin', origin)
        .header('vary', 'Origin')
        .header('access-control-expose-headers', 'WWW-Authenticate, Mcp-Protocol-Version');
    }
    return true;
  };

  /** Verifies the bearer token for this resource; answers 401 (with the challenge) or 503 itself and returns undefined. */
  const authorize = async (request: FastifyRequest, reply: FastifyReply): Promise<Principal | undefined> => {
    const header = request.headers.authorization;
    const token = header ? /^Bearer +([^\s]+) *$/i.exec(header)?.[1] : undefined;
    if (!token) {
      void reply
        .status(401)
        .header('www-authenticate', `Bearer resource_metadata=${quoted(settings.metadataUrl)}`)
        .send({ code: 'identity.missing_token', message: `send a bearer token issued for ${settings.resource} in the Authorization header` });
      return undefined;
    }
    try {
      return await door.gateway.authenticate(token, 'mcp');
    } catch (err) {
      const e = err instanceof AirlockError ? err : undefined;
      if (e && tokenCodes.has(e.code)) {
        void reply
          .status(401)
          .header(
            'www-authenticate',
            `Bearer resource_metadata=${quoted(settings.metadataUrl)}, error="invalid_token", error_description=${quoted(e.message)}`,
          )
          .send({ code: e.code, message: e.message });
        return undefined;
      }
      void reply.status(e ? ErrorCodes[e.code].status : 500).send(toEnvelope(err));
      return undefined;
    }
  };

  const serverFor = (caller: Caller): Server => {
    // the low-level server: tool schemas are the TypeBox schemas of schemas.ts, published as JSON Schema as they are
    const server = new Server({ name: 'airlock', title: 'Airlock', version: serverVersion }, { capabilities: { tools: {} }, instructions });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const tool = findTool(request.params.name);
      if (!tool) throw new McpError(RpcErrorCode.InvalidParams, `unknown tool "${request.params.name}"; tools/list names the tools`);
      return callTool(env, caller, tool, request.params.arguments ?? {});
    });
    return server;
  };

  app.post(mcpPath, { bodyLimit: 1024 * 1024 }, async (request, reply) => {
    if (!checkOrigin(request, reply)) return reply;
    const principal = await authorize(request, reply);
    if (!principal) return reply;
    const server = serverFor({ principal, client: request.ip });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.hijack();
    // headers set on the reply so far (CORS) are fastify's to write, and it no longer writes: hand them to the transport
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    } catch (err) {
      door.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'MCP request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify(toEnvelope(err)));
      }
    }
    return reply;
  });

  // no server-initiated stream and no MCP session to end: the transport's optional GET and DELETE are not offered
  const notOffered = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!checkOrigin(request, reply)) return reply;
    if (!(await authorize(request, reply))) return reply;
    return reply
      .status(405)
      .header('allow', 'POST')
      .send({ code: 'runtime.invalid_request', message: 'this MCP endpoint is stateless: send each JSON-RPC message with POST' });
  };
  app.get(mcpPath, notOffered);
  app.delete(mcpPath, notOffered);

  app.options(mcpPath, async (request, reply) => {
    if (!checkOrigin(request, reply)) return reply;
    return reply
      .status(204)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', 'Authorization, Content-Type, Accept, Mcp-Protocol-Version, Last-Event-ID')
      .header('access-control-max-age', '600')
      .send();
  });

  return { close: async () => undefined };
};
