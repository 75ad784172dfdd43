export * from './schema.js';
export { loadConfigFile, parseConfig, ConfigFileError, demoConfigPath, globMatch, expandEnv } from './load.js';
export { configuredDoorAudience, defaultDoorAudiences, doorAudience, doorNames, type Door } from './doors.js';
