// What route handlers share: the state of one running backend process plus
// the simulator-wide pieces that outlive restarts (files on "disk", counters).
import type { ExecutionCache } from './exec/cache.js';
import type { InterruptFlag, PromptExecutor } from './exec/executor.js';
import type { FreeFlags, PromptWorker } from './exec/worker.js';
import type { FileStore } from './files.js';
import type { History } from './history.js';
import type { NodeRegistry } from './nodes/registry.js';
import type { NodeEnv } from './nodes/types.js';
import type { ResolvedOptions } from './options.js';
import type { PromptQueue } from './prompt-queue.js';
import type { WsHub } from './ws-hub.js';

export interface SimStats {
  prompts: number;
  rejected: number;
  executed: number;
  interrupts: number;
  frees: number;
  uploads: number;
  historyDeletes: number;
  queueDeletes: number;
  wsConnections: number;
  /** Requests and websocket upgrades refused for want of the required credentials. */
  unauthorized: number;
}

export interface ReceivedPrompt {
  promptId: string;
  clientId?: string;
  /** The graph exactly as the client sent it. */
  prompt: any;
}

/** Lives as long as the simulator: survives kill() and restart(). */
export interface SimShared {
  readonly options: ResolvedOptions;
  readonly files: FileStore;
  readonly registry: NodeRegistry;
  readonly env: NodeEnv;
  readonly stats: SimStats;
  readonly received: ReceivedPrompt[];
  emit(event: string, ...args: unknown[]): void;
}

/** One backend process lifetime: everything here is lost on a crash or restart. */
export interface BackendContext extends SimShared {
  readonly queue: PromptQueue;
  readonly history: History;
  readonly hub: WsHub;
  readonly worker: PromptWorker;
  readonly executor: PromptExecutor;
  readonly cache: ExecutionCache;
  readonly interrupt: InterruptFlag;
  readonly freeFlags: FreeFlags;
  readonly address: { host: string; port: number };
  /** The server's prompt number counter. */
  counter: number;
}
