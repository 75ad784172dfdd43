// Which Chromium the browser tests drive: AIRLOCK_CHROMIUM when set, else the system's (Debian's `chromium`), else the
// Chromium build shipped inside the `@sparticuz/chromium` npm package (a devDependency: `npm ci` installs it, no
// download at install or run time). If none can be had the tests fail with one line saying what to install.
import { existsSync } from 'node:fs';

export interface BrowserBinary {
  executablePath: string;
  /** launch flags the binary needs besides the tests' own */
  args: string[];
  source: string;
}

const systemPaths = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export async function chromiumBinary(env: NodeJS.ProcessEnv = process.env): Promise<BrowserBinary> {
  const chosen = env['AIRLOCK_CHROMIUM'];
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`AIRLOCK_CHROMIUM=${chosen} does not exist: point it at a Chromium binary`);
    return { executablePath: chosen, args: [], source: 'AIRLOCK_CHROMIUM' };
  }
  const system = systemPaths.find((p) => existsSync(p));
  if (system) return { executablePath: system, args: [], source: 'system' };
  try {
    const { default: packaged } = await import('@sparticuz/chromium');
    const executablePath = await packaged.executablePath();
    // its own flags minus the ones that make every page share one process (the tests open several contexts)
    const args = packaged.args.filter((a) => !a.startsWith('--single-process') && !a.startsWith('--headless'));
    return { executablePath, args, source: '@sparticuz/chromium' };
  } catch (err) {
    throw new Error(
      `no Chromium for the browser tests (${(err as Error).message.split('\n')[0]}): run npm ci (it installs @sparticuz/chromium), ` +
        'or apt-get install chromium, or set AIRLOCK_CHROMIUM to a Chromium binary',
    );
  }
}
