// ComfySimulator: a protocol-faithful stand-in for one stock ComfyUI 0.3.64
// server, with controls for crashes, restarts, stalls and hangs.
import { EventEmitter } from 'node:events';
import { Backend } from './backend.js';
import type { ReceivedPrompt, SimShared, SimStats } from './context.js';
import { FileStore } from './files.js';
import { NodeRegistry } from './nodes/registry.js';
import type { ResolvedOptions, SimOptions } from './options.js';
import { resolveOptions } from './options.js';
import { ModelMemory } from './model-memory.js';

export class ComfySimulator extends EventEmitter {
  private readonly shared: SimShared;
  private readonly options: ResolvedOptions;
  private backend: Backend | null = null;
  private boundPort: number;

  private constructor(opts: SimOptions) {
    super();
    this.options = resolveOptions(opts);
    this.boundPort = this.options.port;
    const files = new FileStore();
    this.shared = {
      options: this.options,
      files,
      registry: new NodeRegistry(this.options.missingNodes),
      env: { checkpoints: this.options.checkpoints, files, models: new ModelMemory({ loadMs: this.options.modelLoadMs, keep: this.options.modelsKept }) },
      stats: {
        prompts: 0,
        rejected: 0,
        executed: 0,
        interrupts: 0,
        frees: 0,
        uploads: 0,
        historyDeletes: 0,
        queueDeletes: 0,
        wsConnections: 0,
        unauthorized: 0,
      },
      received: [],
      emit: (event, ...args) => {
        try {
          this.emit(event, ...args);
        } catch (err) {
          // A throwing listener is the listener's bug: surface it, but never in the middle of serving a request.
          process.nextTick(() => {
            throw err;
          });
        }
      },
    };
  }

  static async start(opts: SimOptions = {}): Promise<ComfySimulator> {
    const sim = new ComfySimulator(opts);
    await sim.boot();
    return sim;
  }

  get host(): string {
    return this.options.host;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.boundPort}`;
  }

  get name(): string {
    return this.options.name;
  }

  /** Graceful stop: websocket close handshakes, pending work dropped, port released. */
  async close(): Promise<void> {
    await this.backend?.close();
  }

  /** Crash: every HTTP and websocket connection is destroyed at once; queue, history and temp files are lost. */
  kill(): void {
    void this.backend?.kill();
  }

  /**
   * Starts again on the same port with empty state, like a restarted process (input/ and output/
   * survive). `missingNodes`: the node classes it lacks from now on (a node pack installed or removed).
   */
  async restart(changes: { missingNodes?: string[] } = {}): Promise<void> {
    await this.backend?.kill();
    this.shared.files.clearTemp();
    if (changes.missingNodes) {
      this.options.missingNodes = [...changes.missingNodes];
      this.shared.registry.withhold(this.options.missingNodes);
    }
    await this.boot();
  }

  /** Keep websocket connections open but write nothing to them; execution and history continue. */
  stallEvents(on: boolean): void {
    this.backend?.stallEvents(on);
  }

  /** Hold every HTTP request unanswered and freeze the worker; turning it off answers them and resumes. */
  hang(on: boolean): void {
    this.backend?.hang(on);
  }

  /**
   * The files of a model folder from now on, as when files are copied into it: ComfyUI lists them
   * (in /models/{folder} and its loaders' choices) without a restart.
   */
  setModels(folder: string, files: string[]): void {
    if (folder === 'checkpoints') this.options.checkpoints.splice(0, this.options.checkpoints.length, ...files);
    else this.options.models[folder] = [...files];
  }

  setSpeed(speed: number): void {
    if (Number.isFinite(speed) && speed > 0) this.options.speed = speed;
  }

  /** Pending plus running prompts. */
  get queueRemaining(): number {
    return this.backend?.ctx.queue.remaining ?? 0;
  }

  get runningPromptId(): string | null {
    return this.backend?.ctx.worker.runningPromptId ?? null;
  }

  /** Live counters; they survive restarts. `executed` counts prompts the worker finished, whatever the outcome. */
  /** The checkpoints it holds loaded, and how many loads it did. */
  get models(): { held: string[]; loads: number } {
    const { models } = this.shared.env;
    return { held: models?.held() ?? [], loads: models?.loads ?? 0 };
  }

  get stats(): Readonly<SimStats> {
    return this.shared.stats;
  }

  /** Every POST /prompt that carried a prompt, in arrival order, with the graph as sent. */
  receivedPrompts(): ReceivedPrompt[] {
    return [...this.shared.received];
  }

  /** Paths in the input/ folder (subfolders included, e.g. "sub/a.png"). */
  inputFiles(): string[] {
    return this.shared.files.paths('input');
  }

  /** Paths in the output/ folder. */
  outputFiles(): string[] {
    return this.shared.files.paths('output');
  }

  private async boot(): Promise<void> {
    const backend = new Backend(this.shared, this.options.host);
    this.backend = backend;
    this.boundPort = await backend.listen(this.boundPort);
  }
}
