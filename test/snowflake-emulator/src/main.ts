/** Start one emulator from the environment (see README.md); the only file that reads process.env or signals. */
import { loadConfig } from './config.js';
import { startEmulator } from './index.js';

const log = (level: string) => (obj: object, msg?: string) => {
  process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...obj })}\n`);
};

const emulator = await startEmulator({ ...loadConfig(process.env), logger: { info: log('info'), warn: log('warn') } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
