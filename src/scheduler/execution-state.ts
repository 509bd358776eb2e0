// The phases of running one job on one backend, and every event that moves it between them.
// Pure: `step` answers the next state and the side effects to carry out; Execution performs them
// (requests, hooks, timers). Each phase carries only what matters while it lasts.
import type { ComfyMessage, HistoryEntry } from '../comfy/protocol.js';
import { describeExecutionError, outputFiles } from '../comfy/protocol.js';
import type { OutputFile } from '../jobs/job.js';
import { isBlocked } from '../engine/comfy-events.js';

export type Outcome =
  | { kind: 'completed'; outputs: OutputFile[]; entry?: HistoryEntry }
  | { kind: 'failed'; error: string; entry?: HistoryEntry }
  | { kind: 'cancelled'; reason: string; entry?: HistoryEntry }
  /**
   * The backend died or forgot the prompt: the job may run again elsewhere. `withdrawn`: taken
   * back before it started (its backend left the pool), so the attempt does not count.
   */
  | { kind: 'lost'; reason: string; withdrawn?: true };

/** What the backend's events said: the fallback when /history cannot tell. */
export interface Seen {
  /** Outputs of `executed` events, by node id. */
  outputs: Record<string, Record<string, unknown> | null>;
  /** An execution_error other than a blocked branch (which is not a failure). */
  error?: string;
  interrupted: boolean;
}

/** Where the prompt is on its backend, from /history and /queue. */
export type Location =
  | { at: 'finished'; entry: HistoryEntry }
  | { at: 'running' }
  | { at: 'pending'; behindOtherWork: boolean }
  | { at: 'gone' };

/**
 * `cancel`: the reason of a requested cancel, kept until the outcome is known. `withdraw`: why the
 * job is being taken back from a backend that left the pool, while it has not started there.
 */
export type ExecutionState =
  /** Not run yet. */
  | { phase: 'created'; cancel?: string; withdraw?: string }
  /** Uploading the job's input files to the backend. */
  | { phase: 'sending-inputs'; cancel?: string }
  /** POST /prompt sent and not answered yet; its first events can overtake the answer. */
  | { phase: 'queueing'; cancel?: string; seen: Seen; started: boolean; lastEventAt: number; withdraw?: string }
  /** On the backend, not known to run: polled, and the start timeout applies. */
  | { phase: 'pending'; cancel?: string; seen: Seen; withdraw?: string }
  /** Running on the backend: polled, and the stall timeout counts from the last event. */
  | { phase: 'running'; cancel?: string; seen: Seen; lastEventAt: number }
  /** The backend said the prompt ended: reading its result from /history. */
  | { phase: 'confirming'; cancel?: string; seen: Seen }
  | { phase: 'settled'; outcome: Outcome };

export type Phase = ExecutionState['phase'];

export type ExecutionEvent =
  | { on: 'run'; resume: boolean }
  | { on: 'input-missing'; ref: string }
  | { on: 'input-not-sent'; ref: string; error: string }
  | { on: 'inputs-sent'; clientId: string | undefined }
  | { on: 'queue-failed'; error: string }
  | { on: 'rejected'; error: string }
  | { on: 'accepted' }
  | { on: 'message'; msg: ComfyMessage; now: number }
  | { on: 'disconnected' }
  /** The start or stall timer went off. */
  | { on: 'watchdog'; now: number }
  | { on: 'watchdog-failed' }
  /** `since`: the phase when the look began (a watchdog's verdict is for the phase that armed it). */
  | { on: 'located'; where: Location; by: 'check' | 'watchdog'; since: Phase }
  /** What /history answered once the prompt ended; undefined when it never had the entry. */
  | { on: 'history'; entry: HistoryEntry | undefined }
  | { on: 'cancel'; reason: string }
  | { on: 'abandon'; reason: string }
  /** Its backend left the pool: take the job back unless it has started there. */
  | { on: 'withdraw'; reason: string };

export type Effect =
  | { do: 'submitted' }
  | { do: 'running' }
  /** Delete it from the backend queue, or interrupt it if it runs there. */
  | { do: 'cancel-on-backend' }
  /** Best effort: an abandoned prompt must not run later on the backend left behind. */
  | { do: 'remove-from-backend' }
  /** Delete it from the backend queue, then ask where it is (gone: taken back; running: it stays). */
  | { do: 'withdraw-from-backend' }
  /** Ask /history and /queue what became of the prompt. */
  | { do: 'check' }
  /** Read the result from /history, retrying while the entry is not written yet. */
  | { do: 'finish' }
  /** Ask where the prompt is, for the watchdog. */
  | { do: 'locate' }
  | { do: 'arm-watchdog'; ms: number };

export interface StepContext {
  url: string;
  startTimeoutMs: number;
  stallTimeoutMs: number;
}

export interface Step {
  state: ExecutionState;
  effects: Effect[];
}

/** The timers a phase runs while it lasts; every transition out of it clears them. */
export function timersOf(state: ExecutionState, ctx: StepContext): { watchdogMs: number; poll: true } | undefined {
  if (state.phase === 'pending') return { watchdogMs: ctx.startTimeoutMs, poll: true };
  if (state.phase === 'running') return { watchdogMs: ctx.stallTimeoutMs, poll: true };
  return undefined;
}

const nothingSeen: Seen = { outputs: {}, interrupted: false };

function to(state: ExecutionState, ...effects: Effect[]): Step {
  return { state, effects };
}

function settle(outcome: Outcome, ...effects: Effect[]): Step {
  return { state: { phase: 'settled', outcome }, effects };
}

function record(seen: Seen, msg: ComfyMessage): Seen {
  const d = msg.data;
  switch (msg.type) {
    case 'executed':
      if (d.node === undefined || d.output === undefined) return seen;
      return { ...seen, outputs: { ...seen.outputs, [String(d.node)]: d.output } };
    case 'execution_error':
      // A blocked branch is not a failure: the prompt goes on and may still succeed.
      return isBlocked(d) ? seen : { ...seen, error: describeExecutionError(d) };
    case 'execution_interrupted':
      return { ...seen, interrupted: true };
    default:
      return seen;
  }
}

/** The outcome a finished prompt's history entry (and the events seen) stand for. */
export function conclude(entry: HistoryEntry, seen: Seen, cancel: string | undefined, url: string): Outcome {
  const messages = entry.status?.messages ?? [];
  const errorMsg = messages.find(([type, data]) => type === 'execution_error' && !isBlocked(data));
  const interrupted = seen.interrupted || messages.some(([type]) => type === 'execution_interrupted');
  const failed = entry.status ? entry.status.status_str === 'error' : seen.error !== undefined || interrupted;
  if (interrupted) {
    if (cancel !== undefined) return { kind: 'cancelled', reason: cancel, entry };
    return { kind: 'failed', error: 'interrupted on the backend', entry };
  }
  if (failed) {
    const error = errorMsg ? describeExecutionError(errorMsg[1]) : seen.error ?? 'execution failed';
    return { kind: 'failed', error, entry };
  }
  const outputs = outputFiles(entry.outputs ?? {}).map((f) => ({ ...f, backend: url }));
  return { kind: 'completed', outputs, entry };
}

/** The backend no longer has the prompt: deleted by our cancel or our withdrawal, or lost with a restart. */
function gone(cancel: string | undefined, url: string, withdraw?: string): Outcome {
  if (cancel !== undefined) return { kind: 'cancelled', reason: cancel };
  if (withdraw !== undefined) return withdrawn(withdraw);
  return { kind: 'lost', reason: `${url} no longer knows the prompt (restarted?)` };
}

function withdrawn(reason: string): Outcome {
  return { kind: 'lost', reason, withdrawn: true };
}

export function step(state: ExecutionState, event: ExecutionEvent, ctx: StepContext): Step {
  if (state.phase === 'settled') return to(state);
  const { cancel } = state;
  switch (event.on) {
    case 'cancel':
      if (cancel !== undefined) return to(state);
      // Before submission it is honoured at the next step; once the prompt ended, the result tells.
      if (state.phase === 'pending' || state.phase === 'running') return to({ ...state, cancel: event.reason }, { do: 'cancel-on-backend' });
      return to({ ...state, cancel: event.reason });

    case 'abandon':
      return settle({ kind: 'lost', reason: event.reason }, { do: 'remove-from-backend' });

    case 'withdraw':
      // Not run yet: decided when it runs (a resumed one may be on the backend already).
      if (state.phase === 'created') return to({ ...state, withdraw: state.withdraw ?? event.reason });
      // Not on the backend yet: nothing to take back. A cancel asked meanwhile still wins.
      if (state.phase === 'sending-inputs') return settle(cancel !== undefined ? { kind: 'cancelled', reason: cancel } : withdrawn(event.reason));
      // Its POST /prompt is under way: taken back once accepted (unless it starts first).
      if (state.phase === 'queueing') return to({ ...state, withdraw: state.withdraw ?? event.reason });
      if (state.phase === 'pending' && state.withdraw === undefined) return to({ ...state, withdraw: event.reason }, { do: 'withdraw-from-backend' });
      // Running, or its end reported: it finishes there.
      return to(state);

    case 'run':
      if (state.phase !== 'created') return to(state);
      // A prompt queued by an earlier run of the bridge: its events go to a socket that is gone.
      if (event.resume) {
        const { withdraw } = state;
        if (cancel !== undefined) return to({ phase: 'pending', cancel, seen: nothingSeen }, { do: 'cancel-on-backend' }, { do: 'check' });
        // It may run there already: taken back only if it has not started.
        if (withdraw !== undefined) return to({ phase: 'pending', seen: nothingSeen, withdraw }, { do: 'withdraw-from-backend' });
        return to({ phase: 'pending', seen: nothingSeen }, { do: 'check' });
      }
      if (cancel !== undefined) return settle({ kind: 'cancelled', reason: cancel });
      if (state.withdraw !== undefined) return settle(withdrawn(state.withdraw));
      return to({ phase: 'sending-inputs' });

    case 'input-missing':
      if (state.phase !== 'sending-inputs') return to(state);
      return settle({ kind: 'failed', error: `input file ${event.ref} is no longer available; upload it again` });

    case 'input-not-sent':
      if (state.phase !== 'sending-inputs') return to(state);
      return settle({ kind: 'lost', reason: `sending ${event.ref} to ${ctx.url} failed: ${event.error}` });

    case 'inputs-sent':
      if (state.phase !== 'sending-inputs') return to(state);
      if (!event.clientId) return settle({ kind: 'lost', reason: `${ctx.url} has no event socket` });
      if (cancel !== undefined) return settle({ kind: 'cancelled', reason: cancel });
      return to({ phase: 'queueing', seen: nothingSeen, started: false, lastEventAt: 0 });

    case 'queue-failed':
      if (state.phase !== 'queueing' && state.phase !== 'confirming') return to(state);
      // The prompt may have been queued even though the answer was lost: make sure it does not run twice.
      return settle({ kind: 'lost', reason: event.error }, { do: 'remove-from-backend' });

    case 'rejected':
      if (state.phase !== 'queueing' && state.phase !== 'confirming') return to(state);
      return settle({ kind: 'failed', error: `the backend rejected the workflow: ${event.error}` });

    case 'accepted': {
      // Its end may already have been reported: then it stays confirming.
      if (state.phase === 'confirming') return to(state, { do: 'submitted' });
      if (state.phase !== 'queueing') return to(state);
      const { seen, withdraw } = state;
      if (state.started) {
        const next: ExecutionState = { phase: 'running', cancel, seen, lastEventAt: state.lastEventAt };
        return cancel !== undefined ? to(next, { do: 'submitted' }, { do: 'cancel-on-backend' }) : to(next, { do: 'submitted' });
      }
      const next: ExecutionState = withdraw !== undefined ? { phase: 'pending', cancel, seen, withdraw } : { phase: 'pending', cancel, seen };
      if (cancel !== undefined) return to(next, { do: 'submitted' }, { do: 'cancel-on-backend' });
      return withdraw !== undefined ? to(next, { do: 'submitted' }, { do: 'withdraw-from-backend' }) : to(next, { do: 'submitted' });
    }

    case 'message': {
      if (state.phase !== 'queueing' && state.phase !== 'pending' && state.phase !== 'running' && state.phase !== 'confirming') return to(state);
      const { msg, now } = event;
      const seen = record(state.seen, msg);
      // `executing` with node null is the last message of a prompt on every ComfyUI version,
      // and by then the history entry is written.
      if (msg.type === 'executing' && msg.data.node === null && state.phase !== 'confirming') {
        return to({ phase: 'confirming', cancel, seen }, { do: 'finish' });
      }
      const starts = msg.type === 'execution_start';
      switch (state.phase) {
        case 'queueing':
          return starts && !state.started ? to({ ...state, seen, started: true, lastEventAt: now }, { do: 'running' }) : to({ ...state, seen, lastEventAt: now });
        case 'pending':
          return starts ? to({ phase: 'running', cancel, seen, lastEventAt: now }, { do: 'running' }) : to({ ...state, seen });
        case 'running':
          // Only noted: the stall watchdog compares against it when it fires.
          return to({ ...state, seen, lastEventAt: now });
        case 'confirming':
          return to({ ...state, seen });
      }
    }

    case 'disconnected':
      // Events may have been missed: ask the backend.
      return state.phase === 'pending' || state.phase === 'running' ? to(state, { do: 'check' }) : to(state);

    case 'watchdog':
      if (state.phase === 'pending') return to(state, { do: 'locate' });
      if (state.phase === 'running') {
        // Events arrived meanwhile: not stalled; look again when the quiet time could be up.
        const quiet = event.now - state.lastEventAt;
        if (quiet < ctx.stallTimeoutMs) return to(state, { do: 'arm-watchdog', ms: ctx.stallTimeoutMs - quiet });
        return to(state, { do: 'locate' });
      }
      return to(state);

    case 'watchdog-failed':
      if (state.phase === 'pending') return to(state, { do: 'arm-watchdog', ms: ctx.startTimeoutMs });
      if (state.phase === 'running') return to(state, { do: 'arm-watchdog', ms: ctx.stallTimeoutMs });
      return to(state);

    case 'located':
      return located(state, event.where, event.by, event.since, ctx);

    case 'history':
      if (state.phase !== 'confirming') return to(state);
      // No history entry (deleted by someone, or an old server): rely on what the events said.
      return settle(conclude(event.entry ?? { outputs: state.seen.outputs }, state.seen, cancel, ctx.url));
  }
}

/**
 * A look at the backend's /history and /queue. For the watchdog, the backend is asked before
 * anything is decided: a busy backend or a finished job is not stuck.
 */
function located(state: Exclude<ExecutionState, { phase: 'settled' }>, where: Location, by: 'check' | 'watchdog', since: Phase, ctx: StepContext): Step {
  if (state.phase !== 'pending' && state.phase !== 'running' && state.phase !== 'confirming') return to(state);
  const { cancel } = state;
  if (where.at === 'finished') return settle(conclude(where.entry, state.seen, cancel, ctx.url));
  // Moved on while the backend was asked (it started, or its end was reported): the answer is
  // stale, and the new phase has its own watchdog and its own way to the result.
  if (state.phase === 'confirming' || (by === 'watchdog' && since !== state.phase)) return to(state);
  if (where.at === 'gone') return settle(gone(cancel, ctx.url, state.phase === 'pending' ? state.withdraw : undefined));
  const stalled = `no progress from ${ctx.url} for ${ctx.stallTimeoutMs / 1000}s`;
  if (where.at === 'running') {
    // Not known to run yet: its execution_start was missed. Known to run: it went silent.
    // Its execution_start was missed: the stall timer runs in full from now.
    if (state.phase === 'pending') return to({ phase: 'running', cancel, seen: state.seen, lastEventAt: 0 }, { do: 'running' });
    return by === 'watchdog' ? settle({ kind: 'lost', reason: stalled }, { do: 'remove-from-backend' }) : to(state);
  }
  if (by === 'check') return to(state);
  if (state.phase === 'running') return settle({ kind: 'lost', reason: stalled }, { do: 'remove-from-backend' });
  // Waiting its turn behind other work: not stuck.
  if (where.behindOtherWork) return to(state, { do: 'arm-watchdog', ms: ctx.startTimeoutMs });
  return settle({ kind: 'lost', reason: `${ctx.url} accepted the job but did not start it within ${ctx.startTimeoutMs / 1000}s` }, { do: 'remove-from-backend' });
}
