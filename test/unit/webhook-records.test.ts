// Delivery records and webhook payloads: one id per job event, bounded attempt logs, redelivery
// under the same id, and what each event says of its job.
import { newJob } from '../../src/jobs/job.js';
import type { Job } from '../../src/jobs/job.js';
import type { JobEvent } from '../../src/engine/events.js';
import { payloadOf, webhookTypeOf } from '../../src/webhooks/events.js';
import { ATTEMPTS_KEPT, deliveryId, detailOf, redelivered, summaryOf, withAttempt } from '../../src/webhooks/records.js';
import type { Delivery } from '../../src/webhooks/records.js';
import { outputAssetId } from '../../src/v2/asset-ids.js';

const JOB = '0190f5a0-0000-7000-8000-000000000001';

function delivery(fields: Partial<Delivery> = {}): Delivery {
  return { id: deliveryId(JOB, 'job.succeeded'), type: 'job.succeeded', jobId: JOB, seq: 7, tenant: 'alice', url: 'https://h.example.com/x', body: '{"type":"job.succeeded"}', status: 'pending', createdAt: 1_000, since: 1_000, nextAt: 1_000, attempts: 0, failures: 0, log: [], ...fields };
}

function job(fields: Partial<Job> = {}): Job {
  return { ...newJob({ id: JOB, clientId: 'client-0001', workflow: 'invert', prompt: {}, uploads: [] }), ...fields };
}

function event(body: Record<string, unknown>): JobEvent {
  return { jobId: JOB, seq: 3, at: Date.parse('2025-06-01T12:00:00Z'), clientId: 'client-0001', tenant: '', ...body } as JobEvent;
}

describe('records', () => {
  test('one id per job and event type', () => {
    expect(deliveryId(JOB, 'job.started')).toBe(`msg_${JOB}_started`);
    expect(deliveryId(JOB, 'job.canceled')).toBe(`msg_${JOB}_canceled`);
    expect(new Set(['job.started', 'job.succeeded', 'job.failed', 'job.canceled'].map((t) => deliveryId(JOB, t as never))).size).toBe(4);
  });

  test('the attempt log keeps the latest attempts; the count keeps them all', () => {
    let d = delivery();
    for (let i = 0; i < ATTEMPTS_KEPT + 5; i++) d = withAttempt(d, { at: i, ms: 1, status: 500 }, { failures: i + 1 });
    expect(d.attempts).toBe(ATTEMPTS_KEPT + 5);
    expect(d.log).toHaveLength(ATTEMPTS_KEPT);
    expect(d.log[0].at).toBe(5);
  });

  test('a redelivery is pending again under the same id, with a fresh window', () => {
    const dead = delivery({ status: 'dead', finishedAt: 5_000, reason: 'gone', failures: 9, attempts: 9 });
    const again = redelivered(dead, 9_000);
    expect(again).toMatchObject({ id: dead.id, body: dead.body, status: 'pending', since: 9_000, nextAt: 9_000, failures: 0, attempts: 9 });
    expect(again).not.toHaveProperty('reason');
    expect(again).not.toHaveProperty('finishedAt');
  });

  test('the operator views', () => {
    const d = withAttempt(delivery(), { at: 2_000, ms: 12, status: 503, error: 'busy' }, { nextAt: 3_000, failures: 1 });
    expect(summaryOf(d)).toMatchObject({ id: d.id, job_id: JOB, status: 'pending', attempts: 1, next_attempt_at: new Date(3_000).toISOString(), last_attempt: { status_code: 503, error: 'busy', duration_ms: 12 } });
    expect(detailOf(d)).toMatchObject({ payload: { type: 'job.succeeded' }, attempts_shown: [{ status_code: 503 }] });
  });
});

describe('payloads', () => {
  test('only the start and the ends make webhooks', () => {
    expect(['queued', 'dispatched', 'progress', 'output', 'requeued', 'preview'].map(webhookTypeOf)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(['started', 'succeeded', 'failed', 'cancelled'].map(webhookTypeOf)).toEqual(['job.started', 'job.succeeded', 'job.failed', 'job.canceled']);
  });

  test('succeeded: outputs as the v2 job view shows them, with paths on the bridge', () => {
    const file = { filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output', backend: 'http://b:8188' };
    const ref = { filename: file.filename, subfolder: '', type: 'output' };
    const j = job({ state: 'completed', finishedAt: Date.parse('2025-06-01T12:00:00Z'), outputs: [file], record: { outputs: { '9': { images: [ref] } } }, nodeOutputs: [{ node: '9', output: { images: [ref] }, seq: 5 }] });
    const id = outputAssetId(JOB, ref);
    const body = JSON.parse(payloadOf(event({ kind: 'succeeded', outputs: [file] }), j, Date.parse('2025-06-01T12:00:01Z')));
    expect(body).toEqual({
      type: 'job.succeeded',
      timestamp: '2025-06-01T12:00:00.000Z',
      data: {
        id: JOB,
        status: 'succeeded',
        error: null,
        outputs: [{ node_id: '9', name: file.filename, type: 'image', content_type: 'image/png', size_bytes: null, id, hash: null, url: `/api/v2/assets/${id}/content`, url_expires_at: '2025-06-02T12:00:00.000Z' }],
      },
    });
  });

  test("failed: the node's exception as the backend recorded it, or why the bridge gave up", () => {
    const record = { outputs: {}, status: { status_str: 'error', completed: false, messages: [['execution_error', { node_id: '2', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'boom', traceback: ['a\n', 'b\n'] }]] as [string, Record<string, unknown>][] } };
    const failed = JSON.parse(payloadOf(event({ kind: 'failed', error: { message: 'boom' } }), job({ state: 'failed', error: 'boom', record })));
    expect(failed.data).toEqual({ id: JOB, status: 'failed', outputs: [], error: { code: 'node_execution_error', message: 'RuntimeError: boom', node_id: '2', class_type: 'KSampler', traceback: 'a\nb\n' } });
    const gaveUp = JSON.parse(payloadOf(event({ kind: 'failed', error: { message: 'gave up after 3 attempts' } }), job({ state: 'failed', error: 'gave up after 3 attempts' })));
    expect(gaveUp.data.error).toEqual({ code: 'execution_failed', message: 'gave up after 3 attempts', node_id: null, class_type: null, traceback: null });
  });

  test('started and canceled carry their status and no error', () => {
    expect(JSON.parse(payloadOf(event({ kind: 'started' }), job({ state: 'running' }))).data).toEqual({ id: JOB, status: 'running', outputs: [], error: null });
    expect(JSON.parse(payloadOf(event({ kind: 'cancelled', reason: 'interrupted' }), job({ state: 'cancelled', error: 'interrupted' })))).toMatchObject({ type: 'job.canceled', data: { status: 'canceled', error: null } });
  });
});
