export * from './schema.js';
export { loadConfigFile, parseConfig, ConfigFileError, demoConfigPath, globMatch, expandEnv } from './load.js';
export { configuredDoorAudience, consoleApis, consoleResource, defaultDoorAudiences, doorAudience, doorNames, type ConsoleApi, type Door } from './doors.js';
