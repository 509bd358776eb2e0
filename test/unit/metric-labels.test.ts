// Metric label values come from small fixed sets: requeue reasons become kinds, priorities classes.
import { REQUEUE_KINDS, backendLabel, priorityClass, requeueKind, workflowLabel } from '../../src/metrics/labels.js';

test.each([
  ['http://10.0.0.5:8188 went down (connect ECONNREFUSED 10.0.0.5:8188)', 'backend_down'],
  ['http://10.0.0.5:8188 no longer knows the prompt (restarted?)', 'backend_restarted'],
  ['http://10.0.0.5:8188 is no longer configured', 'backend_removed'],
  ['its backend is no longer configured', 'backend_removed'],
  ['http://10.0.0.5:8188 accepted the job but did not start it within 120s', 'start_timeout'],
  ['no progress from http://10.0.0.5:8188 for 600s', 'stalled'],
  ['sending photo.png to http://10.0.0.5:8188 failed: 500', 'send_failed'],
  ['http://10.0.0.5:8188 has no event socket', 'send_failed'],
  ['could not record the dispatch: Redis is away', 'send_failed'],
  ['fetch failed', 'other'],
  ['', 'other'],
])('requeue reason %j is %s', (reason, kind) => {
  expect(requeueKind(reason)).toBe(kind);
  expect(REQUEUE_KINDS).toContain(kind);
});

test('priority classes are the tiers; a job stored before tiers is normal', () => {
  expect((['high', 'normal', 'low', undefined] as const).map(priorityClass)).toEqual(['high', 'normal', 'low', 'normal']);
});

test('workflow labels: catalog aliases as they are, anything else "prompt"', () => {
  const catalog = (alias: string) => ['invert', 'txt2img'].includes(alias);
  expect(workflowLabel('invert', catalog)).toBe('invert');
  expect(workflowLabel('', catalog)).toBe('prompt');
  expect(workflowLabel(undefined, catalog)).toBe('prompt');
  expect(workflowLabel('someone-elses-name', catalog)).toBe('prompt');
});

test('backend labels carry no credentials, query or fragment', () => {
  expect(backendLabel('http://127.0.0.1:8188')).toBe('http://127.0.0.1:8188');
  expect(backendLabel('https://user:secret@gpu.example.com:8443/comfy/?token=x#y')).toBe('https://gpu.example.com:8443/comfy');
  expect(backendLabel('not a url')).toBe('invalid');
});
