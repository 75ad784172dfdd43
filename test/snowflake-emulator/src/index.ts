/** Public barrel of the Snowflake-protocol emulator. */
import { SnowflakeEmulator } from './emulator.js';
import type { Emulator, EmulatorOptions } from './types.js';

export type { Emulator, EmulatorLogger, EmulatorOptions } from './types.js';
export type { HistoryStatus } from './store.js';

/** Start an emulator: creates its catalogue in the backing database, then listens. */
export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const emulator = new SnowflakeEmulator(options);
  try {
    await emulator.start();
  } catch (err) {
    await emulator.close().catch(() => undefined);
    throw err;
  }
  return emulator;
}
