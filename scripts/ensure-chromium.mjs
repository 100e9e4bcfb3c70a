// The browser tests drive Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) with
// playwright-core, which never downloads a browser of its own. On a fresh Debian machine where
// it is missing and we may install packages (root, or passwordless sudo), install it with
// apt-get; otherwise say plainly what to do. Used by `npm test`; `.ci/run` does the same first.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/**
 * Make sure a Chromium binary exists; returns its path, or null when it is missing and could not
 * be installed (the browser tests will then fail with that message).
 * @example
 * const chromium = ensureChromium();
 */
export function ensureChromium() {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(path)) return path;
  if (process.env.CHROMIUM_PATH) {
    console.error(`npm test: CHROMIUM_PATH=${path} does not exist; the browser tests will fail`);
    return null;
  }
  const root = process.getuid?.() === 0;
  const sudo = !root && has('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!has('apt-get') || (!root && !sudo)) {
    console.error('npm test: Chromium is missing (/usr/bin/chromium) and cannot be installed from here; ' +
      'install Debian\'s "chromium" package (or set CHROMIUM_PATH) for the browser tests');
    return null;
  }
  // Through env under sudo: its env_reset would drop DEBIAN_FRONTEND from the environment.
  const run = (args) => spawnSync(root ? args[0] : 'sudo', root ? args.slice(1) : ['env', 'DEBIAN_FRONTEND=noninteractive', ...args], {
    stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  }).status === 0;
  console.error('npm test: installing Debian\'s chromium for the browser tests (apt-get)');
  const ok = run(['apt-get', 'update']) && run(['apt-get', 'install', '-y', '--no-install-recommends', 'chromium']);
  if (!ok || !existsSync(path)) {
    console.error('npm test: could not install chromium; the browser tests will fail');
    return null;
  }
  return path;
}
