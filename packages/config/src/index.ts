export * from './schema.js';
export { loadConfigFile, parseConfig, ConfigFileError, demoConfigPath, globMatch, expandEnv } from './load.js';
