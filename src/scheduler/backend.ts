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
import { logger } from '../log.js';

const log = logger('backend');

export interface BackendOptions {
  timeoutMs: number;
  healthIntervalMs: number;
  healthFailures: number;
}

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
    });
    this.socket.on('close', () => {
      log.warn({ backend: url }, 'event socket closed');
      this.runningPromptId = undefined;
      for (const l of [...this.followers.values()]) l.disconnected?.();
      this.refresh();
    });
  }

  /** Answers its health probes. */
  get reachable(): boolean {
    return this.answering;
  }

  /** Usable for new work: answers probes and its event socket is registered. */
  get healthy(): boolean {
    return this.answering && this.socket.connected;
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
