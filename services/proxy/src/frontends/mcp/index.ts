export { mcpFrontDoor, mcpPath } from './plugin.js';
export type { McpSettings } from './settings.js';
