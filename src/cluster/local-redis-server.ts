// A throwaway redis-server for the demo cluster, the tests and the benchmarks: its own free
// port, its own temp folder, append-only file on (fsync every second, as the bridge asks of a
// production Redis), stopped with the process that started it.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The Debian package that provides redis-server. */
export const REDIS_PACKAGE = 'redis-server';

/** Is a redis-server binary on the PATH? */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface LocalRedisOptions {
  /** Append-only file (default on, fsync every second). */
  appendonly?: boolean;
  /** A port to reuse (a restart keeps its clients' URL); a free one by default. */
  port?: number;
  /** A folder to reuse (a restart keeps its data); a new temp folder by default. */
  dir?: string;
  /**
   * Its own process group, so a Ctrl-C in the terminal does not reach it before the bridges
   * that write to it have stopped (the demo); the starter must then stop it.
   */
  detached?: boolean;
}

export class LocalRedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly ownsDir: boolean,
    private readonly appendonly: boolean,
    private readonly detached: boolean,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Process id of the redis-server while it runs (to read its CPU time). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  static async start(options: LocalRedisOptions = {}): Promise<LocalRedisServer> {
    if (!hasRedisServer()) {
      throw new Error(`redis-server is not installed: install the Debian package "${REDIS_PACKAGE}" (apt-get install ${REDIS_PACKAGE})`);
    }
    const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'comfy-bridge-redis-'));
    const server = new LocalRedisServer(options.port ?? (await freePort()), dir, options.dir === undefined, options.appendonly ?? true, options.detached ?? false);
    await server.launch();
    return server;
  }

  /** Start it again on the same port and folder (after `stop` or `kill`): the data comes back from the AOF. */
  async launch(): Promise<void> {
    if (this.child) return;
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.appendonly ? 'yes' : 'no',
      '--appendfsync', 'everysec',
      '--daemonize', 'no',
      '--protected-mode', 'no',
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: this.detached });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        // redis-server logs this once it accepts connections (after loading its data).
        if (/Ready to accept connections/.test(output)) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready: ${output.slice(-500)}`)));
      child.once('error', reject);
    });
  }

  /** Stop it as an operator would (SIGTERM: it writes its data first). */
  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    await this.exited;
  }

  /** Kill it (SIGKILL): what the AOF has is what survives. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Stop it and remove its folder (when it made one). */
  async close(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
