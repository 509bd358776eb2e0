// One ComfyUI server as the scheduler sees it: its HTTP client, its event socket, whether it is
// healthy and whether it is draining (which of our jobs it holds is the scheduler's to know).
// Events from its socket are routed by prompt_id to whoever follows that prompt. Its `url` has no
// credentials and names it everywhere; the credentials reach only its client and socket.
import { EventEmitter } from 'node:events';
import { ComfyClient } from '../comfy/client.js';
import { ComfyEventSocket } from '../comfy/events.js';
import { authorizationOf } from '../comfy/address.js';
import type { BackendAddress, Credentials } from '../comfy/address.js';
import type { BinaryFrame, ComfyMessage } from '../comfy/protocol.js';
import { BinaryEvent } from '../comfy/protocol.js';
import { BackendError } from '../comfy/client.js';
import { isPlainObject } from '../comfy/python.js';
import { describeBackend } from './capabilities.js';
import type { Capabilities } from './capabilities.js';
import { logger } from '../log.js';

const log = logger('backend');

export interface BackendOptions {
  timeoutMs: number;
  healthIntervalMs: number;
  healthFailures: number;
  /** Learn its node classes and model files again this often (besides on appearing and on reconnect); 0: never. */
  capabilityRefreshMs?: number;
}

/** Model folder lists asked for at once while learning. */
const FOLDERS_AT_ONCE = 8;

export interface PromptListener {
  message(msg: ComfyMessage): void;
  binary?(frame: BinaryFrame): void;
  /** The event socket dropped: events may have been missed, so the follower should check. */
  disconnected?(): void;
}

export interface BackendEvents {
  /** Usable for new work again. */
  up: [];
  /** Not usable for new work (not answering, or its event socket is down). */
  down: [reason: string];
  /** Stopped answering: the jobs it holds are to be considered lost. */
  unreachable: [reason: string];
  /** Queue length changed (ours and anyone else's prompts). */
  status: [queueRemaining: number];
  /** Started or stopped draining (finishing what it has, taking nothing new). */
  drain: [draining: boolean];
  /** Its node classes or model files (as learned) changed. */
  capabilities: [];
}

export class Backend extends EventEmitter<BackendEvents> {
  readonly client: ComfyClient;
  readonly socket: ComfyEventSocket;
  /** Answered its last probes. */
  private answering = false;
  private failures = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private stopped = true;
  /** ComfyUI version from /system_stats, when it reports one. */
  version: string | undefined;
  /** ComfyUI's queue_remaining (pending + running, everybody's). */
  queueRemaining = 0;
  /** The prompt executing now, for frames that carry no prompt_id. */
  runningPromptId: string | undefined;
  /** Times the event socket registered again after it had been connected (for operators). */
  reconnects = 0;
  private everConnected = false;
  private readonly followers = new Map<string, PromptListener>();
  /**
   * What it can run: its /object_info and model lists, learned when it appears, when its event
   * socket connects again (it may have restarted with other nodes) and every CAPABILITY_REFRESH.
   * Undefined until learned, or when it answers /object_info with no description.
   */
  capabilities: Capabilities | undefined;
  /** It takes no work until its capabilities are learned (again). */
  private unlearned = true;
  private nextLearn = 0;
  private learnedPrint: string | undefined;
  /** The operator's labels (may be empty). */
  labels: string[] = [];
  private drainingNow = false;
  private closed = false;
  /** Its URL, without credentials: what names it in records, events, logs and answers. */
  readonly url: string;

  constructor(address: BackendAddress | string, private readonly options: BackendOptions) {
    super();
    this.setMaxListeners(0);
    const { url, credentials } = typeof address === 'string' ? { url: address, credentials: undefined } : address;
    this.url = url;
    const authorization = credentials && authorizationOf(credentials);
    this.client = new ComfyClient(url, { timeoutMs: options.timeoutMs, authorization });
    this.socket = new ComfyEventSocket(url, { authorization });
    this.socket.on('message', (msg) => this.route(msg));
    this.socket.on('binary', (frame) => this.routeBinary(frame));
    this.socket.on('open', () => {
      log.info({ backend: url }, 'event socket connected');
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      this.refresh();
      // Learn what it has before it takes work: it may have come back with other nodes.
      if (this.unlearned && this.answering) void this.probe();
    });
    this.socket.on('close', () => {
      log.warn({ backend: url }, 'event socket closed');
      this.runningPromptId = undefined;
      this.unlearned = true;
      for (const l of [...this.followers.values()]) l.disconnected?.();
      this.refresh();
    });
  }

  /** Answers its health probes. */
  get reachable(): boolean {
    return this.answering;
  }

  /** Usable for new work: answers probes, its event socket is registered and what it can run is known. */
  get healthy(): boolean {
    return this.answering && this.socket.connected && !this.unlearned;
  }

  /** Finishing what it has and taking nothing new (the scheduler asks before it sends work). */
  get draining(): boolean {
    return this.drainingNow;
  }

  drain(on: boolean): void {
    if (on === this.drainingNow) return;
    this.drainingNow = on;
    log.info({ backend: this.url }, on ? 'draining: takes no new work' : 'takes new work again');
    this.emit('drain', on);
  }

  /** Use other credentials from the next request and the next socket connection on. */
  authorize(credentials: Credentials | undefined): void {
    const authorization = credentials && authorizationOf(credentials);
    this.client.authorize(authorization);
    this.socket.authorize(authorization);
  }

  /** Its HTTP client is closed: it cannot be started again. */
  get isClosed(): boolean {
    return this.closed;
  }

  start(): void {
    if (!this.stopped || this.closed) return;
    this.stopped = false;
    this.socket.start();
    void this.probe();
  }

  /**
   * Stop probing it and close its event socket, keeping its HTTP client: files it made can still
   * be read, and `start` takes it up again.
   */
  retire(): void {
    this.stopped = true;
    clearTimeout(this.probeTimer);
    this.socket.stop();
    this.runningPromptId = undefined;
    // Silently: whoever retires it says why; started again, it comes `up` afresh.
    this.answering = false;
    this.failures = 0;
    this.wasHealthy = false;
    this.unlearned = true;
  }

  async stop(): Promise<void> {
    this.retire();
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }

  follow(promptId: string, listener: PromptListener): void {
    this.followers.set(promptId, listener);
  }

  unfollow(promptId: string): void {
    this.followers.delete(promptId);
  }

  /** Report a failed request made on behalf of a job: counts like a failed probe. */
  reportFailure(reason: string): void {
    this.markFailure(reason);
  }

  private async probe(): Promise<void> {
    if (this.stopped || this.probing) return;
    this.probing = true;
    try {
      // The version is read when the backend (re)appears; a routine probe is the cheapest request.
      if (!this.answering) {
        const stats = await this.client.systemStats();
        this.version = typeof stats?.system?.comfyui_version === 'string' ? stats.system.comfyui_version : this.version;
      }
      if (!this.answering || this.unlearned) await this.learn();
      else if (this.options.capabilityRefreshMs && Date.now() >= this.nextLearn) {
        // A routine refresh that fails keeps what was learned; the next one is due a period later.
        await this.learn().catch((err: Error) => log.warn({ backend: this.url }, `could not refresh its node classes and models: ${err.message}`));
      }
      this.queueRemaining = await this.client.queueRemaining();
      this.failures = 0;
      if (!this.answering) {
        this.answering = true;
        log.info({ backend: this.url }, `reachable (ComfyUI ${this.version ?? 'unknown version'})`);
      }
      this.refresh();
    } catch (err) {
      this.markFailure((err as Error).message);
    } finally {
      this.probing = false;
      if (!this.stopped) {
        clearTimeout(this.probeTimer);
        this.probeTimer = setTimeout(() => void this.probe(), this.options.healthIntervalMs);
        this.probeTimer.unref();
      }
    }
  }

  /**
   * Ask it for /object_info (it takes work once that is known), then /models and each
   * /models/{folder} (in the background: those lists only add files its loaders do not offer).
   * A backend that answers /object_info with an error status has not described itself: it is
   * judged by what it does.
   */
  private async learn(): Promise<void> {
    this.nextLearn = Date.now() + (this.options.capabilityRefreshMs ?? 0);
    let objectInfo: unknown;
    try {
      objectInfo = await this.client.getJson('/object_info');
    } catch (err) {
      if (!(err instanceof BackendError && err.status !== undefined)) throw err;
      objectInfo = undefined;
    }
    this.unlearned = false;
    if (!isPlainObject(objectInfo)) {
      this.learned(undefined);
      return;
    }
    // Until the folders are read again, the last lists stand.
    this.learned(describeBackend(objectInfo, this.capabilities?.folders));
    void this.modelFolders()
      .then((folders) => this.learned(describeBackend(objectInfo as Record<string, unknown>, folders)))
      .catch((err: Error) => log.warn({ backend: this.url }, `could not read its model folders: ${err.message}`));
  }

  private async modelFolders(): Promise<Map<string, string[]>> {
    const folders = new Map<string, string[]>();
    const names = await this.client.getJson('/models').catch((err) => {
      // Older ComfyUI has no /models: its loaders' choices still say which files it has.
      if (err instanceof BackendError && err.status !== undefined) return [];
      throw err;
    });
    const list = Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
    for (let i = 0; i < list.length; i += FOLDERS_AT_ONCE) {
      await Promise.all(
        list.slice(i, i + FOLDERS_AT_ONCE).map(async (folder) => {
          const files = await this.client.getJson(`/models/${encodeURIComponent(folder)}`).catch((err) => {
            if (err instanceof BackendError && err.status === 404) return [];
            throw err;
          });
          if (Array.isArray(files)) folders.set(folder, files.filter((f): f is string => typeof f === 'string'));
        }),
      );
    }
    return folders;
  }

  /** Keep what was learned; say so when it changed (an unchanged answer keeps the pool's caches). */
  private learned(caps: Capabilities | undefined): void {
    const print = caps
      ? `${[...caps.classes].sort().join(',')}\n${[...caps.folders].map(([f, files]) => `${f}:${[...files].sort().join('|')}`).join('\n')}\n${JSON.stringify(caps.objectInfo).length}`
      : '';
    if (print === this.learnedPrint && (caps !== undefined) === (this.capabilities !== undefined)) return;
    this.learnedPrint = print;
    this.capabilities = caps;
    log.info({ backend: this.url }, caps ? `has ${caps.classes.size} node classes and ${caps.modelFiles.size} model files in its folders` : 'does not describe its nodes (/object_info); it is sent any job');
    this.emit('capabilities');
  }

  private markFailure(reason: string): void {
    this.failures += 1;
    if (this.failures === this.options.healthFailures) {
      // Also when it never answered since start-up: jobs a previous run left there must move on.
      if (this.answering) {
        this.answering = false;
        log.warn({ backend: this.url }, `taken out of rotation after ${this.failures} failures (${reason})`);
        this.refresh();
      } else {
        log.warn({ backend: this.url }, `not reachable (${reason})`);
      }
      this.emit('unreachable', reason);
    }
  }

  private wasHealthy = false;
  /** Emit up/down when the combined health changes. */
  private refresh(): void {
    const now = this.healthy;
    if (now === this.wasHealthy) return;
    this.wasHealthy = now;
    if (now) this.emit('up');
    else this.emit('down', this.answering ? 'event socket lost' : 'not answering');
  }

  private route(msg: ComfyMessage): void {
    const data = msg.data;
    if (msg.type === 'status') {
      const n = Number(data?.status?.exec_info?.queue_remaining);
      if (Number.isFinite(n)) {
        this.queueRemaining = n;
        this.emit('status', n);
      }
      return;
    }
    if (msg.type === 'execution_start' && typeof data.prompt_id === 'string') this.runningPromptId = data.prompt_id;
    // The reconnect `executing` frame and some custom messages carry no prompt_id: they belong
    // to whatever runs now, since a backend runs one prompt at a time.
    const promptId = typeof data.prompt_id === 'string' ? data.prompt_id : this.runningPromptId;
    if (promptId === undefined) return;
    if (msg.type === 'executing' && data.node === null && promptId === this.runningPromptId) this.runningPromptId = undefined;
    this.followers.get(promptId)?.message(msg);
  }

  private routeBinary(frame: BinaryFrame): void {
    // TEXT frames are sent to every socket whoever owns the prompt: only the running prompt's
    // follower may see them, and only if that prompt is ours.
    const promptId = frame.type === BinaryEvent.PREVIEW_IMAGE_WITH_METADATA ? frame.promptId ?? this.runningPromptId : this.runningPromptId;
    if (promptId === undefined) return;
    this.followers.get(promptId)?.binary?.(frame);
  }
}
