export { mcpFrontDoor, mcpPath } from './plugin.js';
export { mcpSettings, type McpSettings } from './settings.js';
