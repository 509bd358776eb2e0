// One job on one backend, against a fake ComfyUI backend whose answers each test controls.
// Timers are fake: watchdogs, polls and the /history retries run on the test's clock.
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { Execution } from '../../src/scheduler/execution.js';
import type { ExecutionHooks, ExecutionOptions, Outcome } from '../../src/scheduler/execution.js';
import type { Backend } from '../../src/scheduler/backend.js';
import type { QueuePromptResult } from '../../src/comfy/client.js';
import { BackendError } from '../../src/comfy/client.js';
import type { HistoryEntry } from '../../src/comfy/protocol.js';
import type { Job } from '../../src/jobs/job.js';
import type { InputFiles } from '../../src/uploads/input-files.js';

const ID = '0190a0b0-0000-7000-8000-000000000001';
const URL = 'http://backend-1';
const POLL = 1_000;
const START = 10_000;
const STALL = 20_000;

const image = { filename: 'out_00001_.png', subfolder: '', type: 'output' };
const success: HistoryEntry = {
  outputs: { '3': { images: [image] } },
  status: { status_str: 'success', completed: true, messages: [['execution_start', { prompt_id: ID }], ['execution_success', { prompt_id: ID }]] },
};
const errorData = { prompt_id: ID, node_id: '2', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'out of memory' };
const failure: HistoryEntry = { outputs: {}, status: { status_str: 'error', completed: false, messages: [['execution_error', errorData]] } };
const interrupted: HistoryEntry = {
  outputs: {},
  status: { status_str: 'error', completed: false, messages: [['execution_interrupted', { prompt_id: ID, node_id: '2' }]] },
};

/** Lets every pending promise chain run (requests answered by the fake resolve at once). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/**
 * A ComfyUI server as far as Execution uses one: a queue (running, pending), a history, and the
 * event socket the bridge follows prompts on.
 */
function fakeComfy() {
  const comfy = {
    running: [] as string[],
    pending: [] as string[],
    history: new Map<string, HistoryEntry>(),
    /** Reads of /history that answer "not there yet" before the entry shows. */
    historyLag: 0,
    /** What POST /prompt answers; by default it queues the prompt. */
    answer: (): Promise<QueuePromptResult> => {
      comfy.pending.push(ID);
      return Promise.resolve({ accepted: true, number: 0, nodeErrors: {} });
    },
    /** Whether POST /queue {delete} and /interrupt take effect (they answer 200 either way). */
    honoursCancel: true,
    /** A request that fails as if the backend went away. */
    down: false,
  };
  const reachable = () => {
    if (comfy.down) throw new BackendError(`${URL} failed: connection refused`);
  };
  const client = {
    history: jest.fn(async (id: string) => {
      reachable();
      if (comfy.historyLag > 0 && comfy.history.has(id)) {
        comfy.historyLag -= 1;
        return undefined;
      }
      return comfy.history.get(id);
    }),
    queue: jest.fn(async () => {
      reachable();
      return { running: [...comfy.running], pending: [...comfy.pending] };
    }),
    queuePrompt: jest.fn((_args: { prompt: unknown; promptId: string; clientId: string }) => comfy.answer()),
    uploadImage: jest.fn(async (name: string, _bytes: Buffer, _opts: { subfolder?: string }) => {
      reachable();
      return { filename: name.replace('.png', ' (1).png'), subfolder: '', type: 'input' };
    }),
    deleteQueued: jest.fn(async (ids: string[]) => {
      reachable();
      if (comfy.honoursCancel) comfy.pending = comfy.pending.filter((p) => !ids.includes(p));
    }),
    interrupt: jest.fn(async (_id?: string) => {
      reachable();
    }),
  };
  const socket = { clientId: 'bridge-socket' as string | undefined, connected: true, lastFrameAt: Date.now() };
  let follower: Execution | undefined;
  const backend = {
    url: URL,
    client,
    socket,
    follow: jest.fn((_id: string, l: Execution) => (follower = l)),
    unfollow: jest.fn(() => (follower = undefined)),
    reportFailure: jest.fn(),
  };
  return {
    comfy,
    client,
    socket,
    backend,
    get following() {
      return follower !== undefined;
    },
    /** One event for our prompt on the bridge's socket. */
    emit(type: string, data: Record<string, unknown> = {}) {
      socket.lastFrameAt = Date.now();
      follower?.message({ type, data: { prompt_id: ID, ...data } });
    },
    /** The worker takes the prompt. */
    start() {
      comfy.pending = comfy.pending.filter((p) => p !== ID);
      comfy.running = [ID];
    },
    /** The worker is done with it and wrote the history entry. */
    end(entry: HistoryEntry) {
      comfy.running = comfy.running.filter((p) => p !== ID);
      comfy.history.set(ID, entry);
    },
    /** A whole successful run, as the socket reports it. */
    runToSuccess(entry: HistoryEntry = success) {
      this.start();
      this.emit('execution_start');
      this.emit('executing', { node: '3' });
      this.emit('executed', { node: '3', output: entry.outputs['3'] ?? null });
      this.emit('execution_success');
      this.end(entry);
      this.emit('executing', { node: null });
    },
  };
}

type Fake = ReturnType<typeof fakeComfy>;

function hooks() {
  const calls: string[] = [];
  const h = {
    calls,
    submitted: jest.fn(() => void calls.push('submitted')),
    running: jest.fn(() => void calls.push('running')),
    progress: jest.fn((_f: number) => undefined),
    message: jest.fn(),
    preview: jest.fn(),
  };
  return h satisfies ExecutionHooks;
}

const prompt = { '3': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'out' } }, '1': { class_type: 'LoadImage', inputs: { image: 'up.png' } } };

function launch(fake: Fake, options: Partial<ExecutionOptions> & { uploads?: string[]; inputs?: InputFiles } = {}) {
  const job = { id: ID, prompt, uploads: options.uploads ?? [], extraData: {} } as unknown as Job;
  const inputs = options.inputs ?? ({ read: async (ref: string) => ({ bytes: Buffer.from('png'), filename: ref, subfolder: '' }) } as unknown as InputFiles);
  const h = hooks();
  const execution = new Execution(job, fake.backend as unknown as Backend, h, {
    pollMs: POLL,
    startTimeoutMs: START,
    stallTimeoutMs: STALL,
    ...options,
    inputs,
  });
  let outcome: Outcome | undefined;
  const done = execution.run().then((o) => (outcome = o));
  return {
    execution,
    hooks: h,
    done,
    get outcome() {
      return outcome;
    },
  };
}

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('success', () => {
  test('execution_start … executing null, confirmed by /history', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    expect(run.hooks.submitted).toHaveBeenCalledTimes(1);
    expect(fake.client.queuePrompt).toHaveBeenCalledWith(expect.objectContaining({ promptId: ID, clientId: 'bridge-socket' }));
    fake.runToSuccess();
    await settle();
    expect(run.outcome).toEqual({ kind: 'completed', outputs: [{ ...image, backend: URL }], entry: success });
    expect(run.hooks.calls).toEqual(['submitted', 'running']);
    expect(run.hooks.progress).toHaveBeenLastCalledWith(1);
    expect(run.hooks.message).toHaveBeenCalledTimes(5);
    expect(fake.following).toBe(false);
  });

  test('inputs are sent first, under the name the backend stored them', async () => {
    const fake = fakeComfy();
    launch(fake, { uploads: ['up.png'] });
    await settle();
    expect(fake.client.uploadImage).toHaveBeenCalledWith('up.png', expect.any(Buffer), { subfolder: '' });
    const sent = fake.client.queuePrompt.mock.calls[0][0].prompt as typeof prompt;
    expect(sent['1'].inputs.image).toBe('up (1).png');
  });

  test('execution_success before /history has the entry: read again until it does', async () => {
    const fake = fakeComfy();
    fake.comfy.historyLag = 2;
    const run = launch(fake);
    await settle();
    fake.runToSuccess();
    await settle();
    expect(run.outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(50 + 100);
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
    expect(fake.client.history).toHaveBeenCalledTimes(3);
  });

  test('/history never gets the entry: the outputs seen in `executed` stand', async () => {
    const fake = fakeComfy();
    fake.comfy.historyLag = Infinity;
    const run = launch(fake);
    await settle();
    fake.runToSuccess();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(run.outcome).toEqual({ kind: 'completed', outputs: [{ ...image, backend: URL }], entry: { outputs: success.outputs } });
    expect(fake.client.history).toHaveBeenCalledTimes(5);
  });

  test('execution_start overtaking the answer to POST /prompt', async () => {
    const fake = fakeComfy();
    const answer = deferred<QueuePromptResult>();
    fake.comfy.answer = () => answer.promise;
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    answer.resolve({ accepted: true, number: 0, nodeErrors: {} });
    await settle();
    expect(run.hooks.calls).toEqual(['running', 'submitted']);
    fake.emit('execution_success');
    fake.end(success);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed' });
  });

  test('the whole run overtaking the answer to POST /prompt', async () => {
    const fake = fakeComfy();
    const answer = deferred<QueuePromptResult>();
    fake.comfy.answer = () => answer.promise;
    const run = launch(fake);
    await settle();
    fake.runToSuccess();
    await settle();
    answer.resolve({ accepted: true, number: 0, nodeErrors: {} });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed' });
    expect(run.hooks.calls).toEqual(['running']); // settled before the answer came
  });
});

describe('POST /prompt', () => {
  test('200 with node_errors: accepted with some outputs dropped, and runs', async () => {
    const fake = fakeComfy();
    fake.comfy.answer = async () => {
      fake.comfy.pending.push(ID);
      return { accepted: true, number: 0, nodeErrors: { '4': { class_type: 'SaveImage', errors: [], dependent_outputs: ['4'] } } as any };
    };
    const run = launch(fake);
    await settle();
    expect(run.hooks.submitted).toHaveBeenCalled();
    fake.runToSuccess();
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed' });
  });

  test('400: the workflow is rejected and the job fails', async () => {
    const fake = fakeComfy();
    fake.comfy.answer = async () => ({
      accepted: false,
      status: 400,
      error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} },
      nodeErrors: {
        '1': { class_type: 'LoadImage', dependent_outputs: ['3'], errors: [{ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: 'image - Invalid image file: up.png', extra_info: { input_name: 'image' } }] },
      } as any,
    });
    const run = launch(fake);
    await run.done;
    expect(run.outcome?.kind).toBe('failed');
    expect((run.outcome as { error: string }).error).toMatch(/^the backend rejected the workflow: Prompt outputs failed validation/);
    expect((run.outcome as { error: string }).error).toContain('up.png');
    expect(run.hooks.submitted).not.toHaveBeenCalled();
    expect(fake.following).toBe(false);
  });

  test('answer lost: lost, and taken off the backend in case it was queued', async () => {
    const fake = fakeComfy();
    fake.comfy.answer = async () => {
      fake.comfy.pending.push(ID);
      throw new BackendError('POST /prompt failed: socket hang up');
    };
    const run = launch(fake);
    await run.done;
    await settle();
    expect(run.outcome).toEqual({ kind: 'lost', reason: 'POST /prompt failed: socket hang up' });
    expect(fake.backend.reportFailure).toHaveBeenCalledWith('POST /prompt failed: socket hang up');
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
    expect(fake.comfy.pending).toEqual([]);
  });

  test('no event socket: lost without queueing', async () => {
    const fake = fakeComfy();
    fake.socket.clientId = undefined;
    const run = launch(fake);
    await run.done;
    expect(run.outcome).toEqual({ kind: 'lost', reason: `${URL} has no event socket` });
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
  });
});

describe('inputs', () => {
  test('upload fails: lost (another backend may take it)', async () => {
    const fake = fakeComfy();
    fake.comfy.down = true;
    const run = launch(fake, { uploads: ['up.png'] });
    await run.done;
    expect(run.outcome?.kind).toBe('lost');
    expect((run.outcome as { reason: string }).reason).toMatch(/^sending up.png to http:\/\/backend-1 failed/);
    expect(fake.backend.reportFailure).toHaveBeenCalled();
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
  });

  test('input file gone: failed (no backend can run it)', async () => {
    const fake = fakeComfy();
    const inputs = { read: async () => Promise.reject(new Error('ENOENT')) } as unknown as InputFiles;
    const run = launch(fake, { uploads: ['up.png'], inputs });
    await run.done;
    expect(run.outcome).toEqual({ kind: 'failed', error: 'input file up.png is no longer available; upload it again' });
    expect(fake.client.uploadImage).not.toHaveBeenCalled();
  });
});

describe('errors on the backend', () => {
  test('execution_error: failed with the node and the exception', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    fake.emit('execution_error', errorData);
    fake.end(failure);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toEqual({ kind: 'failed', error: 'node 2 (KSampler) failed: RuntimeError: out of memory', entry: failure });
  });

  test('execution_error without a history status (old server): the event tells', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    fake.emit('execution_error', errorData);
    fake.end({ outputs: {} });
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'failed', error: 'node 2 (KSampler) failed: RuntimeError: out of memory' });
  });

  test('ExecutionBlocked is not a failure: the prompt goes on and succeeds', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    fake.emit('execution_error', { ...errorData, exception_type: 'ExecutionBlocked', exception_message: 'Execution Blocked: branch off' });
    const entry: HistoryEntry = {
      outputs: success.outputs,
      status: { status_str: 'success', completed: true, messages: [['execution_error', { ...errorData, exception_type: 'ExecutionBlocked' }], ['execution_success', {}]] },
    };
    fake.emit('execution_success');
    fake.end(entry);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed', outputs: [{ ...image, backend: URL }] });
  });

  test('interrupted by someone else: failed', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    fake.emit('execution_interrupted', { node_id: '2' });
    fake.end(interrupted);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toEqual({ kind: 'failed', error: 'interrupted on the backend', entry: interrupted });
  });
});

describe('cancel', () => {
  test('before submission: cancelled, nothing sent', async () => {
    const fake = fakeComfy();
    const job = { id: ID, prompt, uploads: [], extraData: {} } as unknown as Job;
    const execution = new Execution(job, fake.backend as unknown as Backend, hooks(), { inputs: {} as InputFiles, pollMs: POLL, startTimeoutMs: START, stallTimeoutMs: STALL });
    execution.cancel('client asked');
    expect(await execution.run()).toEqual({ kind: 'cancelled', reason: 'client asked' });
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
  });

  test('while the inputs are sent: cancelled before queueing', async () => {
    const fake = fakeComfy();
    const upload = deferred<{ filename: string; subfolder: string; type: string }>();
    fake.client.uploadImage.mockImplementationOnce(() => upload.promise);
    const run = launch(fake, { uploads: ['up.png'] });
    await settle();
    run.execution.cancel('client asked');
    upload.resolve({ filename: 'up.png', subfolder: '', type: 'input' });
    await run.done;
    expect(run.outcome).toEqual({ kind: 'cancelled', reason: 'client asked' });
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
  });

  test('while POST /prompt is on its way: cancelled on the backend once queued', async () => {
    const fake = fakeComfy();
    const answer = deferred<QueuePromptResult>();
    fake.comfy.answer = () => {
      fake.comfy.pending.push(ID);
      return answer.promise;
    };
    const run = launch(fake);
    await settle();
    run.execution.cancel('client asked');
    expect(fake.client.deleteQueued).not.toHaveBeenCalled();
    answer.resolve({ accepted: true, number: 0, nodeErrors: {} });
    await settle();
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
    expect(run.outcome).toEqual({ kind: 'cancelled', reason: 'client asked' });
  });

  test('while pending: deleted from the queue; no events follow, so /history and /queue tell', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    run.execution.cancel('client asked');
    await settle();
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
    expect(fake.client.interrupt).not.toHaveBeenCalled();
    expect(run.outcome).toEqual({ kind: 'cancelled', reason: 'client asked' });
  });

  test('while running: interrupted; execution_interrupted makes it cancelled', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    run.execution.cancel('client asked');
    await settle();
    expect(fake.client.interrupt).toHaveBeenCalledWith(ID);
    fake.emit('execution_interrupted', { node_id: '2' });
    fake.end(interrupted);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toEqual({ kind: 'cancelled', reason: 'client asked', entry: interrupted });
  });

  test('answered 200 but nothing happened: the prompt runs on and its result stands', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    run.execution.cancel('client asked');
    await settle();
    expect(fake.client.interrupt).toHaveBeenCalled();
    fake.emit('executed', { node: '3', output: success.outputs['3'] });
    fake.emit('execution_success');
    fake.end(success);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
  });

  test('delete answered 200 but the prompt stays queued: still waiting, then runs', async () => {
    const fake = fakeComfy();
    fake.comfy.honoursCancel = false;
    fake.comfy.running = ['someone-else'];
    const run = launch(fake);
    await settle();
    run.execution.cancel('client asked');
    await settle();
    expect(run.outcome).toBeUndefined();
    fake.runToSuccess();
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed' });
  });

  test('a second cancel changes nothing', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    run.execution.cancel('first');
    run.execution.cancel('second');
    await settle();
    expect(fake.client.deleteQueued).toHaveBeenCalledTimes(1);
    fake.emit('execution_interrupted');
    fake.end(interrupted);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'cancelled', reason: 'first' });
  });
});

describe('missed events', () => {
  test('socket disconnected: /history tells the prompt finished', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    fake.end(success);
    fake.socket.connected = false;
    run.execution.disconnected();
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
  });

  test('socket disconnected while it still runs: keeps following', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    run.execution.disconnected();
    await settle();
    expect(run.outcome).toBeUndefined();
    expect(run.hooks.running).toHaveBeenCalled(); // its execution_start was missed
  });

  test('silent socket: the poll finds the completion', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.end(success); // every event went elsewhere
    await jest.advanceTimersByTimeAsync(POLL);
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
  });

  test('a talking socket is not polled', async () => {
    const fake = fakeComfy();
    launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    const reads = fake.client.history.mock.calls.length;
    for (let i = 0; i < 5; i++) {
      await jest.advanceTimersByTimeAsync(POLL / 2);
      fake.emit('progress', { value: i, max: 10, node: '3' });
    }
    expect(fake.client.history.mock.calls.length).toBe(reads);
  });

  test('prompt gone from the backend (restart): lost', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.comfy.pending = []; // restarted: queue and history are empty
    fake.socket.connected = false;
    run.execution.disconnected();
    await settle();
    expect(run.outcome).toEqual({ kind: 'lost', reason: `${URL} no longer knows the prompt (restarted?)` });
  });

  test('finished between the reads of /history and /queue: finished, not gone', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.client.queue.mockImplementationOnce(async () => {
      fake.end(success);
      return { running: [], pending: [] };
    });
    run.execution.disconnected();
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
  });
});

describe('watchdogs', () => {
  test('start timeout: queued on an idle backend that does not start it → lost and removed', async () => {
    const fake = fakeComfy();
    fake.socket.lastFrameAt = Infinity; // keep the poll out of it
    const run = launch(fake);
    await settle();
    await jest.advanceTimersByTimeAsync(START);
    expect(run.outcome).toEqual({ kind: 'lost', reason: `${URL} accepted the job but did not start it within ${START / 1000}s` });
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
  });

  test('start timeout behind other work: keeps waiting its turn', async () => {
    const fake = fakeComfy();
    fake.socket.lastFrameAt = Infinity;
    fake.comfy.running = ['someone-else'];
    const run = launch(fake);
    await settle();
    await jest.advanceTimersByTimeAsync(START * 3);
    expect(run.outcome).toBeUndefined();
    fake.comfy.running = [];
    fake.runToSuccess();
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed' });
  });

  test('start timeout when the start was missed: running after all', async () => {
    const fake = fakeComfy();
    fake.socket.lastFrameAt = Infinity;
    const run = launch(fake);
    await settle();
    fake.start();
    await jest.advanceTimersByTimeAsync(START);
    expect(run.hooks.running).toHaveBeenCalled();
    expect(run.outcome).toBeUndefined();
  });

  test('stall timeout: running without a single event → lost and interrupted there', async () => {
    const fake = fakeComfy();
    fake.socket.lastFrameAt = Infinity;
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    fake.socket.lastFrameAt = Infinity;
    await jest.advanceTimersByTimeAsync(STALL);
    expect(run.outcome).toEqual({ kind: 'lost', reason: `no progress from ${URL} for ${STALL / 1000}s` });
    await settle();
    expect(fake.client.interrupt).toHaveBeenCalledWith(ID);
  });

  test('events keep a long run alive', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    for (let i = 0; i < 10; i++) {
      await jest.advanceTimersByTimeAsync(STALL / 2);
      fake.emit('progress', { value: i, max: 10, node: '3' });
    }
    expect(run.outcome).toBeUndefined();
    fake.emit('execution_success');
    fake.end(success);
    fake.emit('executing', { node: null });
    await settle();
    expect(run.outcome).toMatchObject({ kind: 'completed' });
  });

  test('started while the start watchdog asked the backend: not abandoned on the stale answer', async () => {
    const fake = fakeComfy();
    fake.socket.lastFrameAt = Infinity;
    const run = launch(fake);
    await settle();
    const queue = deferred<{ running: string[]; pending: string[] }>();
    fake.client.queue.mockImplementationOnce(() => queue.promise);
    await jest.advanceTimersByTimeAsync(START);
    fake.start();
    fake.emit('execution_start');
    queue.resolve({ running: [], pending: [ID] }); // read before it started
    await settle();
    expect(run.outcome).toBeUndefined();
    expect(fake.client.deleteQueued).not.toHaveBeenCalled();
  });

  test('the backend not answering the watchdog: asked again later, not decided', async () => {
    const fake = fakeComfy();
    fake.socket.lastFrameAt = Infinity;
    const run = launch(fake);
    await settle();
    fake.comfy.down = true;
    await jest.advanceTimersByTimeAsync(START);
    expect(run.outcome).toBeUndefined();
    expect(fake.backend.reportFailure).toHaveBeenCalled();
    fake.comfy.down = false;
    fake.start();
    fake.end(success);
    await jest.advanceTimersByTimeAsync(START);
    expect(run.outcome).toMatchObject({ kind: 'completed' });
  });
});

describe('resume after a restart of the bridge', () => {
  test('finished meanwhile: its result', async () => {
    const fake = fakeComfy();
    fake.end(success);
    const run = launch(fake, { resume: true });
    await run.done;
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
    expect(run.hooks.submitted).not.toHaveBeenCalled();
  });

  test('still running: followed by polling until it finishes', async () => {
    const fake = fakeComfy();
    fake.start();
    const run = launch(fake, { resume: true });
    await settle();
    expect(run.hooks.running).toHaveBeenCalled();
    expect(run.outcome).toBeUndefined();
    fake.end(success);
    fake.socket.lastFrameAt = Date.now(); // the socket talks, but not about this prompt
    await jest.advanceTimersByTimeAsync(POLL);
    expect(run.outcome).toMatchObject({ kind: 'completed', entry: success });
  });

  test('gone from the backend: lost', async () => {
    const fake = fakeComfy();
    const run = launch(fake, { resume: true });
    await run.done;
    expect(run.outcome).toEqual({ kind: 'lost', reason: `${URL} no longer knows the prompt (restarted?)` });
  });

  test('cancelled before it is picked up: removed from the backend', async () => {
    const fake = fakeComfy();
    fake.comfy.pending = [ID];
    const job = { id: ID, prompt, uploads: [], extraData: {} } as unknown as Job;
    const execution = new Execution(job, fake.backend as unknown as Backend, hooks(), { inputs: {} as InputFiles, resume: true, pollMs: POLL, startTimeoutMs: START, stallTimeoutMs: STALL });
    execution.cancel('client asked');
    expect(await execution.run()).toEqual({ kind: 'cancelled', reason: 'client asked' });
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
  });
});

describe('abandon', () => {
  test('lost, taken off the backend, and deaf to later events', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    run.execution.abandon(`${URL} went down`);
    await settle();
    expect(run.outcome).toEqual({ kind: 'lost', reason: `${URL} went down` });
    expect(fake.client.interrupt).toHaveBeenCalledWith(ID);
    expect(fake.following).toBe(false);
    const messages = run.hooks.message.mock.calls.length;
    run.execution.message({ type: 'executing', data: { node: null, prompt_id: ID } });
    run.execution.cancel('late');
    expect(run.hooks.message.mock.calls.length).toBe(messages);
  });

  test('before it ran: nothing is queued', async () => {
    const fake = fakeComfy();
    const job = { id: ID, prompt, uploads: [], extraData: {} } as unknown as Job;
    const execution = new Execution(job, fake.backend as unknown as Backend, hooks(), { inputs: {} as InputFiles, pollMs: POLL, startTimeoutMs: START, stallTimeoutMs: STALL });
    execution.abandon(`${URL} went down`);
    expect(await execution.run()).toEqual({ kind: 'lost', reason: `${URL} went down` });
    await settle();
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
    expect(fake.backend.follow).not.toHaveBeenCalled();
  });

  test('while the backend confirms the result: lost, no result taken', async () => {
    const fake = fakeComfy();
    fake.comfy.historyLag = Infinity;
    const run = launch(fake);
    await settle();
    fake.runToSuccess();
    await settle();
    run.execution.abandon('gone');
    await jest.advanceTimersByTimeAsync(5_000);
    expect(run.outcome).toEqual({ kind: 'lost', reason: 'gone' });
  });
});

test('no timer outlives the outcome', async () => {
  const fake = fakeComfy();
  const run = launch(fake);
  await settle();
  expect(jest.getTimerCount()).toBe(2); // the poll and the start watchdog
  fake.runToSuccess();
  await settle();
  expect(run.outcome?.kind).toBe('completed');
  expect(jest.getTimerCount()).toBe(0);
});

describe('withdraw (its backend left the pool)', () => {
  const WHY = 'backend-1 was removed from the pool';

  test('before submission: taken back, nothing sent, the attempt does not count', async () => {
    const fake = fakeComfy();
    const job = { id: ID, prompt, uploads: [], extraData: {} } as unknown as Job;
    const execution = new Execution(job, fake.backend as unknown as Backend, hooks(), { inputs: {} as InputFiles, pollMs: POLL, startTimeoutMs: START, stallTimeoutMs: STALL });
    execution.withdraw(WHY);
    expect(await execution.run()).toEqual({ kind: 'lost', reason: WHY, withdrawn: true });
    expect(fake.client.queuePrompt).not.toHaveBeenCalled();
  });

  test('while pending: deleted from the queue and taken back, nothing interrupted', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    run.execution.withdraw(WHY);
    await settle();
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
    expect(fake.client.interrupt).not.toHaveBeenCalled();
    expect(run.outcome).toEqual({ kind: 'lost', reason: WHY, withdrawn: true });
  });

  test('while running: it finishes there', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.start();
    fake.emit('execution_start');
    run.execution.withdraw(WHY);
    await settle();
    expect(fake.client.deleteQueued).not.toHaveBeenCalled();
    fake.runToSuccess();
    await run.done;
    expect(run.outcome?.kind).toBe('completed');
  });

  test('while POST /prompt is on its way: taken back once queued', async () => {
    const fake = fakeComfy();
    const answer = deferred<QueuePromptResult>();
    fake.comfy.answer = () => {
      fake.comfy.pending.push(ID);
      return answer.promise;
    };
    const run = launch(fake);
    await settle();
    run.execution.withdraw(WHY);
    expect(fake.client.deleteQueued).not.toHaveBeenCalled();
    answer.resolve({ accepted: true, number: 0, nodeErrors: {} });
    await settle();
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
    expect(run.outcome).toEqual({ kind: 'lost', reason: WHY, withdrawn: true });
  });

  test('started before the answer to POST /prompt came: it finishes there', async () => {
    const fake = fakeComfy();
    const answer = deferred<QueuePromptResult>();
    fake.comfy.answer = () => answer.promise;
    const run = launch(fake);
    await settle();
    run.execution.withdraw(WHY);
    fake.start();
    fake.emit('execution_start');
    answer.resolve({ accepted: true, number: 0, nodeErrors: {} });
    await settle();
    expect(fake.client.deleteQueued).not.toHaveBeenCalled();
    fake.runToSuccess();
    await run.done;
    expect(run.outcome?.kind).toBe('completed');
  });

  test('it started between the delete and the look: it finishes there', async () => {
    const fake = fakeComfy();
    fake.comfy.honoursCancel = false;
    const run = launch(fake);
    await settle();
    fake.client.deleteQueued.mockImplementationOnce(async () => fake.start());
    run.execution.withdraw(WHY);
    await settle();
    expect(run.outcome).toBeUndefined();
    fake.runToSuccess();
    await run.done;
    expect(run.outcome?.kind).toBe('completed');
  });

  test('the backend does not answer: the job stays until it is given up on (abandoned: lost, counted)', async () => {
    const fake = fakeComfy();
    const run = launch(fake);
    await settle();
    fake.comfy.down = true;
    run.execution.withdraw(WHY);
    await settle();
    expect(fake.backend.reportFailure).toHaveBeenCalled();
    expect(run.outcome).toBeUndefined();
    run.execution.abandon('backend-1 went down');
    await run.done;
    expect(run.outcome).toEqual({ kind: 'lost', reason: 'backend-1 went down' });
  });

  test('a cancel asked before the withdrawal still wins', async () => {
    const fake = fakeComfy();
    const job = { id: ID, prompt, uploads: [], extraData: {} } as unknown as Job;
    const execution = new Execution(job, fake.backend as unknown as Backend, hooks(), { inputs: {} as InputFiles, pollMs: POLL, startTimeoutMs: START, stallTimeoutMs: STALL });
    execution.cancel('client asked');
    execution.withdraw(WHY);
    expect(await execution.run()).toEqual({ kind: 'cancelled', reason: 'client asked' });
  });
});

describe('withdraw after a restart of the bridge (its backend was removed meanwhile)', () => {
  const WHY = 'backend-1 was removed from the pool';
  const resumed = (fake: Fake) => {
    const job = { id: ID, prompt, uploads: [], extraData: {} } as unknown as Job;
    const execution = new Execution(job, fake.backend as unknown as Backend, hooks(), { inputs: {} as InputFiles, resume: true, pollMs: POLL, startTimeoutMs: START, stallTimeoutMs: STALL });
    execution.withdraw(WHY);
    return execution;
  };

  test('still queued there: taken back', async () => {
    const fake = fakeComfy();
    fake.comfy.pending = [ID];
    expect(await resumed(fake).run()).toEqual({ kind: 'lost', reason: WHY, withdrawn: true });
    expect(fake.client.deleteQueued).toHaveBeenCalledWith([ID]);
  });

  test('running there: followed until it finishes', async () => {
    const fake = fakeComfy();
    fake.start();
    const done = resumed(fake).run();
    await settle();
    expect(fake.client.interrupt).not.toHaveBeenCalled();
    fake.end(success);
    await jest.advanceTimersByTimeAsync(POLL);
    expect(await done).toMatchObject({ kind: 'completed', entry: success });
  });

  test('finished there meanwhile: its result', async () => {
    const fake = fakeComfy();
    fake.end(success);
    expect(await resumed(fake).run()).toMatchObject({ kind: 'completed', entry: success });
  });
});
