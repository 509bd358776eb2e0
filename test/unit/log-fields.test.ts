// Log lines carry what they are about as fields (job, backend, …) for log tools to filter on,
// and credentials never reach them.
import { EventEmitter, once } from 'node:events';
import { afterEach, beforeAll, expect, test } from '@jest/globals';
import { logger, setLogDestination, setLogLevel } from '../../src/log.js';
import { Execution } from '../../src/scheduler/execution.js';
import type { Backend } from '../../src/scheduler/backend.js';
import type { QueuePromptResult } from '../../src/comfy/client.js';
import type { Job } from '../../src/jobs/job.js';
import type { InputFiles } from '../../src/uploads/input-files.js';

const JOB = '0190a0b0-0000-7000-8000-00000000f1e1';
const BACKEND = 'http://backend-7:8188';

const lines: any[] = [];
const arrived = new EventEmitter();
let previous: ReturnType<typeof setLogDestination> | undefined;

/** Captures log lines (parsed) from now until the test ends. */
function capture(): void {
  previous = setLogDestination({
    write: (line: string) => {
      lines.push(JSON.parse(line));
      arrived.emit('line');
    },
  });
  setLogLevel('info');
}

async function lineMatching(test: (line: any) => boolean): Promise<any> {
  for (;;) {
    const found = lines.find(test);
    if (found) return found;
    await once(arrived, 'line');
  }
}

beforeAll(() => setLogLevel('silent'));
afterEach(() => {
  setLogLevel('silent');
  if (previous) setLogDestination(previous);
  previous = undefined;
  lines.length = 0;
});

/** A backend that accepts the prompt but drops an output node, then forgets the prompt when asked. */
function droppingBackend() {
  const nodeErrors = { '9': { class_type: 'SaveImage', errors: [{ type: 'bad', message: 'Value not in list' }] } };
  return {
    url: BACKEND,
    socket: { clientId: 'bridge-socket', connected: true, lastFrameAt: Date.now() },
    client: {
      queuePrompt: async (): Promise<QueuePromptResult> => ({ accepted: true, number: 0, nodeErrors }),
      deleteQueued: async () => undefined,
      queue: async () => ({ running: [], pending: [] }),
      history: async () => undefined,
      interrupt: async () => undefined,
    },
    follow: () => undefined,
    unfollow: () => undefined,
    reportFailure: () => undefined,
  };
}

test('a job on a backend logs both as fields, not in the message', async () => {
  capture();
  const prompt = { '3': { class_type: 'SaveImage', inputs: {} }, '9': { class_type: 'SaveImage', inputs: {} } };
  const job = { id: JOB, prompt, uploads: [], extraData: {} } as unknown as Job;
  const hooks = { submitted: () => undefined, running: () => undefined, progress: () => undefined };
  const execution = new Execution(job, droppingBackend() as unknown as Backend, hooks, {
    inputs: {} as InputFiles,
    pollMs: 60_000,
    startTimeoutMs: 60_000,
    stallTimeoutMs: 60_000,
  });
  const done = execution.run();
  const line = await lineMatching((l) => l.scope === 'execution' && l.level === 'warn');
  execution.cancel('test over');
  await done;

  expect(line).toMatchObject({ job: JOB, backend: BACKEND });
  expect(line.msg).toMatch(/^accepted with some outputs dropped: .*node 9/);
  expect(line.msg).not.toContain(JOB);
  expect(line.msg).not.toContain(BACKEND);
});

test('credentials beside those fields are redacted, the fields stay', async () => {
  capture();
  logger('execution').warn({ job: JOB, backend: BACKEND, token: 'sk-live-0001', headers: { authorization: 'Bearer sk-live-0002' } }, 'with secrets');
  const line = await lineMatching((l) => l.msg === 'with secrets');
  expect(line).toMatchObject({ job: JOB, backend: BACKEND, token: '[redacted]', headers: { authorization: '[redacted]' } });
  expect(JSON.stringify(line)).not.toContain('sk-live');
});
