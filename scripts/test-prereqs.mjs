// Run by `npm test` first: the programs the tests start for themselves (redis-server for the
// cluster tests, Chromium for the dashboard's browser tests) must be installed. As root on Debian they are installed with apt when missing;
// otherwise this names the packages to install and stops.
import { spawnSync } from 'node:child_process';

/** Binary → Debian package. */
const NEEDED = [
  { binary: 'redis-server', pkg: 'redis-server', args: ['--version'] },
  // Debian's build, driven by playwright-core (which downloads no browser of its own).
  { binary: 'chromium', pkg: 'chromium', args: ['--version'] },
];

const has = ({ binary, args }) => spawnSync(binary, args, { stdio: 'ignore' }).status === 0;
const missing = NEEDED.filter((n) => !has(n));
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((m) => m.pkg);
const isRoot = process.getuid?.() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt) {
  process.stderr.write(`The tests need ${pkgs.join(', ')} (Debian package${pkgs.length > 1 ? 's' : ''}): install with\n  sudo apt-get install -y ${pkgs.join(' ')}\n`);
  process.exit(1);
}
process.stdout.write(`Installing ${pkgs.join(', ')} with apt-get for the tests…\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { stdio: 'inherit', env }).status === 0;
if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', '--no-install-recommends', ...pkgs]) || missing.some((m) => !has(m))) {
  process.stderr.write(`Could not install ${pkgs.join(', ')}; install ${pkgs.length > 1 ? 'them' : 'it'} by hand: apt-get install -y ${pkgs.join(' ')}\n`);
  process.exit(1);
}
