import type { HttpFrontDoorPlugin } from '../http/server.js';
import { SnowflakeFrontDoor, type SnowflakeFrontDoorOptions } from './front-door.js';

export type { SnowflakeFrontDoorOptions } from './front-door.js';
export { CONNECTION_HEADER } from './sql-api.js';

/** The Snowflake front door with its own timings (tests shorten the in-progress wait). */
export function createSnowflakeFrontDoor(options: SnowflakeFrontDoorOptions = {}): HttpFrontDoorPlugin {
  return async (app, door) => {
    const front = new SnowflakeFrontDoor(door, options);
    await front.register(app);
    return { close: () => front.close() };
  };
}

/** The Snowflake connector REST protocol and the SQL API v2 on the proxy's HTTP port. */
export const snowflakeFrontDoor: HttpFrontDoorPlugin = createSnowflakeFrontDoor();
