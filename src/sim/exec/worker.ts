// The single prompt worker (main.prompt_worker): takes the next prompt, runs
// it, records history, announces the end, then applies /free requests.
import type { Clock } from '../clock.js';
import { BackendStopped } from '../clock.js';
import type { History } from '../history.js';
import type { PromptQueue, QueueItem } from '../prompt-queue.js';
import type { WsHub } from '../ws-hub.js';
import type { ExecutionCache } from './cache.js';
import type { ExecutionOutcome, PromptExecutor } from './executor.js';
import type { ModelMemory } from '../model-memory.js';

/** extra_data keys that never reach history. */
const SENSITIVE_EXTRA_DATA_KEYS = ['auth_token_comfy_org', 'api_key_comfy_org'];

/** Flags set by POST /free, acted on between prompts. */
export interface FreeFlags {
  unloadModels: boolean;
  freeMemory: boolean;
}

export interface WorkerDeps {
  queue: PromptQueue;
  history: History;
  executor: PromptExecutor;
  hub: WsHub;
  clock: Clock;
  cache: ExecutionCache;
  /** Loaded checkpoints, dropped by a free with unload_models. */
  models?: ModelMemory;
  flags: FreeFlags;
  started(promptId: string): void;
  finished(promptId: string, status: ExecutionOutcome['status']): void;
}

export class PromptWorker {
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private current: string | null = null;

  constructor(private readonly deps: WorkerDeps) {}

  get runningPromptId(): string | null {
    return this.current;
  }

  start(): void {
    void this.loop();
  }

  private report(err: unknown): void {
    if (process.env.COMFY_SIM_DEBUG) process.stderr.write(`comfy-sim worker: ${String(err)}\n`);
  }

  /** Something changed (new prompt, new flags): look at the queue again. */
  wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.deps.clock.whenRunning();
      } catch {
        return;
      }
      if (this.stopped) return;
      try {
        const taken = this.deps.queue.take();
        if (!taken) {
          this.applyFlags();
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
          continue;
        }
        await this.run(taken.item, taken.taskId);
      } catch (err) {
        if (err instanceof BackendStopped || this.stopped) return;
        // Whatever went wrong, the worker keeps serving the queue.
        this.report(err);
        this.current = null;
      }
    }
  }

  private async run(item: QueueItem, taskId: number): Promise<void> {
    const { queue, history, executor, hub } = this.deps;
    const promptId = item[1];
    this.current = promptId;
    this.deps.started(promptId);
    let outcome: ExecutionOutcome;
    try {
      outcome = await executor.execute(item);
    } catch (err) {
      if (err instanceof BackendStopped || this.stopped) throw err;
      // A simulator bug must not kill the worker: record it as a failed prompt.
      this.report(err);
      outcome = { status: 'error', outputs: {}, meta: {}, messages: [] };
    }
    if (this.stopped) throw new BackendStopped();
    queue.finish(taskId, (running) => {
      for (const key of SENSITIVE_EXTRA_DATA_KEYS) delete running[3][key];
      history.add({
        prompt: running,
        outputs: outcome.outputs,
        status: {
          status_str: outcome.status === 'success' ? 'success' : 'error',
          completed: outcome.status === 'success',
          messages: outcome.messages,
        },
        meta: outcome.meta,
      });
    });
    if (executor.clientId !== null) hub.send('executing', { node: null, prompt_id: promptId }, executor.clientId);
    this.current = null;
    this.deps.finished(promptId, outcome.status);
    this.applyFlags();
  }

  private applyFlags(): void {
    const { flags, cache, models } = this.deps;
    // Unloading models empties the loaded checkpoints; freeing memory drops the execution cache.
    if (flags.unloadModels) models?.clear();
    if (flags.freeMemory) cache.reset();
    flags.unloadModels = false;
    flags.freeMemory = false;
  }
}
