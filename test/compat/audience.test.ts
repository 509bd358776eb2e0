// Who hears a prompt's messages (protocol notes §10.4).
import { audienceOf } from '../../src/compat/audience.js';

test('a prompt with a client talks to that client only', () => {
  for (const type of ['execution_start', 'executing', 'progress', 'progress_state', 'executed', 'execution_success', 'execution_error', 'custom']) {
    expect(audienceOf(type, {}, true)).toBe('client');
  }
});

test('a prompt without a client broadcasts progress, interruption and blocked branches, and nothing else', () => {
  for (const type of ['progress', 'progress_state', 'execution_interrupted']) expect(audienceOf(type, {}, false)).toBe('everyone');
  expect(audienceOf('execution_error', { exception_type: 'ExecutionBlocked' }, false)).toBe('everyone');
  for (const type of ['execution_start', 'execution_cached', 'executing', 'executed', 'execution_success', 'custom']) expect(audienceOf(type, {}, false)).toBe('nobody');
  expect(audienceOf('execution_error', { exception_type: 'RuntimeError' }, false)).toBe('nobody');
});
