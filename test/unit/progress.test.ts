import type { ComfyMessage, ComfyPrompt } from '../../src/comfy/protocol.js';
import { JobProgress, formatPercent } from '../../src/jobs/progress.js';

const P = 'af1b6e8f-7473-4737-a2c9-2a933b5c2527';

/** A txt2img graph: 1 checkpoint, 2/3 prompts, 4 latent, 5 KSampler (20 steps), 6 decode, 7 save. Weight 6 + 20 = 26. */
function txt2img(steps: unknown = 20): ComfyPrompt {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '2': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['1', 1] } },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['1', 1] } },
    '4': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '5': {
      class_type: 'KSampler',
      inputs: { seed: 1, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['1', 0], positive: ['2', 0], negative: ['3', 0], latent_image: ['4', 0] },
    },
    '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
    '7': { class_type: 'SaveImage', inputs: { filename_prefix: 'out', images: ['6', 0] } },
  };
}

const msg = (type: string, data: Record<string, unknown> = {}): ComfyMessage => ({ type, data: { prompt_id: P, ...data } });
const start = () => msg('execution_start', { timestamp: 1 });
const cached = (nodes: string[]) => msg('execution_cached', { nodes, timestamp: 1 });
const executing = (node: string | null) => (node === null ? msg('executing', { node: null }) : msg('executing', { node, display_node: node }));
const progress = (value: number, max: number, node?: string) => msg('progress', node === undefined ? { value, max } : { value, max, node });
const executed = (node: string, output: unknown = { images: [{ filename: 'out_00001_.png', subfolder: '', type: 'output' }] }) =>
  msg('executed', { node, display_node: node, output });
const success = () => msg('execution_success', { timestamp: 2 });
const status = (n: number) => ({ type: 'status', data: { status: { exec_info: { queue_remaining: n } } } });

/** Feed messages, checking after each that the fraction never goes back and stays below 1. */
function feed(p: JobProgress, messages: ComfyMessage[]): number[] {
  const seen: number[] = [];
  for (const m of messages) {
    const before = p.fraction;
    const moved = p.apply(m);
    expect(p.fraction).toBeGreaterThanOrEqual(before);
    expect(moved).toBe(p.fraction !== before);
    seen.push(p.fraction);
  }
  return seen;
}

describe('JobProgress', () => {
  test('starts at 0', () => {
    expect(new JobProgress(txt2img()).fraction).toBe(0);
  });

  test('a full run without cache, message by message', () => {
    const p = new JobProgress(txt2img());
    const seq: [ComfyMessage, number][] = [
      [status(1), 0],
      [start(), 0],
      [cached([]), 0],
      [executing('1'), 0],
      [executing('2'), 1 / 26],
      [executing('3'), 2 / 26],
      [executing('4'), 3 / 26],
      [executing('5'), 4 / 26],
      [progress(1, 20, '5'), 5 / 26],
      [progress(10, 20, '5'), 14 / 26],
      [progress(20, 20, '5'), 24 / 26],
      [executing('6'), 24 / 26],
      [executing('7'), 25 / 26],
      [executed('7'), 0.99],
    ];
    for (const [m, expected] of seq) {
      p.apply(m);
      expect(p.fraction).toBeCloseTo(expected, 10);
    }
    expect(p.apply(success())).toBe(true);
    expect(p.fraction).toBe(1);
    expect(p.apply(status(0))).toBe(false);
    expect(p.apply(executing(null))).toBe(false);
    expect(p.fraction).toBe(1);
  });

  test('the sampler carries most of the weight', () => {
    const p = new JobProgress(txt2img(20));
    feed(p, [start(), cached([]), executing('1'), executing('2'), executing('3'), executing('4'), executing('5'), progress(10, 20, '5')]);
    // Halfway through the sampler: 4 small nodes + 10 of 20 steps out of 26.
    expect(p.fraction).toBeCloseTo(14 / 26, 10);
  });

  test('cached nodes count as done at once', () => {
    const p = new JobProgress(txt2img());
    const [, afterCache] = feed(p, [start(), cached(['1', '2', '3', '4'])]);
    expect(afterCache).toBeCloseTo(4 / 26, 10);
    feed(p, [executing('5'), progress(5, 20, '5')]);
    expect(p.fraction).toBeCloseTo(9 / 26, 10);
  });

  test('everything cached except the save node', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4', '5', '6'])]);
    expect(p.fraction).toBeCloseTo(25 / 26, 10);
    feed(p, [executing('7'), executed('7'), executing(null)]);
    expect(p.fraction).toBe(0.99);
  });

  test('an all-cached prompt stays below 1 until success', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4', '5', '6', '7'])]);
    expect(p.fraction).toBe(0.99);
    p.apply(success());
    expect(p.fraction).toBe(1);
  });

  test('the sequence observed from ComfyUI 0.3.64 (§11) ends at 1 only on execution_success', () => {
    const prompt: ComfyPrompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { filename_prefix: 'x', images: ['2', 0] } },
      '4': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    };
    const p = new JobProgress(prompt);
    const seen = feed(p, [
      status(1),
      status(1),
      start(),
      cached([]),
      msg('progress_state', { nodes: { '1': { value: 0, max: 1, state: 'running', node_id: '1' } } }),
      executing('1'),
      msg('progress_state', { nodes: { '1': { value: 1, max: 1, state: 'finished', node_id: '1' } } }),
      executing('4'),
      executed('4', { images: [{ filename: 'p.png', subfolder: '', type: 'temp' }] }),
      executing('2'),
      executing('3'),
      executed('3'),
    ]);
    expect(Math.max(...seen)).toBeLessThan(1);
    expect(p.fraction).toBe(0.99);
    expect(p.apply(success())).toBe(true);
    expect(p.fraction).toBe(1);
    expect(p.apply(status(0))).toBe(false);
    expect(p.apply(executing(null))).toBe(false);
  });

  test('an old server without execution_success never reaches 1 by itself, complete() finishes it', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4']), executing('5'), progress(20, 20, '5'), executing('6'), executing('7'), executed('7'), executing(null)]);
    expect(p.fraction).toBe(0.99);
    expect(p.complete()).toBe(true);
    expect(p.fraction).toBe(1);
    expect(p.complete()).toBe(false);
  });

  test('complete() from the start jumps to 1', () => {
    const p = new JobProgress(txt2img());
    expect(p.complete()).toBe(true);
    expect(p.fraction).toBe(1);
  });

  test('messages after success do not lower it', () => {
    const p = new JobProgress(txt2img());
    p.apply(success());
    expect(feed(p, [executing('1'), progress(1, 20, '5'), cached([])])).toEqual([1, 1, 1]);
  });

  test('never goes backwards when progress values drop', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4']), executing('5'), progress(15, 20, '5')]);
    const high = p.fraction;
    expect(p.apply(progress(3, 20, '5'))).toBe(false);
    expect(p.fraction).toBe(high);
    // A later rise that stays below the best so far does not move it either.
    expect(p.apply(progress(10, 20, '5'))).toBe(false);
    expect(p.fraction).toBe(high);
    expect(p.apply(progress(18, 20, '5'))).toBe(true);
    expect(p.fraction).toBeGreaterThan(high);
  });

  test('never goes backwards through an error or interruption', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), executing('1'), executing('5'), progress(8, 20, '5')]);
    const before = p.fraction;
    feed(p, [
      msg('execution_error', { node_id: '5', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'boom' }),
      msg('execution_interrupted', { node_id: '5', node_type: 'KSampler', executed: ['1'] }),
      status(0),
      executing(null),
    ]);
    expect(p.fraction).toBeGreaterThanOrEqual(before);
    expect(p.fraction).toBeLessThan(1);
  });

  test('execution_error and execution_interrupted themselves do not move it', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), executing('1'), executing('5'), progress(8, 20, '5')]);
    const before = p.fraction;
    expect(p.apply(msg('execution_error', { node_id: '5', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'boom' }))).toBe(false);
    expect(p.apply(msg('execution_interrupted', { node_id: '5', node_type: 'KSampler', executed: ['1'] }))).toBe(false);
    expect(p.fraction).toBe(before);
  });

  // After execution_error / execution_interrupted ComfyUI still sends `executing {node: null}`
  // (protocol notes §11). JobProgress treats that as "the current node finished", so a sampler that
  // failed at step 8 of 20 is counted as fully done: the fraction jumps from 9/26 to 21/26 and a
  // failing job reports 80.77% just before its error.
  test('a node that failed is not counted as done by the closing executing null', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), executing('1'), executing('5'), progress(8, 20, '5')]);
    feed(p, [
      msg('execution_error', { node_id: '5', node_type: 'KSampler', exception_type: 'RuntimeError', exception_message: 'boom' }),
      status(0),
      executing(null),
    ]);
    expect(p.fraction).toBeCloseTo(9 / 26, 10);
  });

  test('progress with floats and out-of-range values is clamped to the node', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4']), executing('5'), progress(2.5, 10, '5')]);
    expect(p.fraction).toBeCloseTo((4 + 5) / 26, 10);
    feed(p, [progress(50, 10, '5')]);
    expect(p.fraction).toBeCloseTo(24 / 26, 10);
  });

  test('progress without a usable max is ignored', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), executing('5')]);
    expect(p.apply(progress(5, 0, '5'))).toBe(false);
    expect(p.apply(msg('progress', { value: 'x', max: 10, node: '5' }))).toBe(false);
    expect(p.apply(msg('progress', { value: 1, node: '5' }))).toBe(false);
    expect(p.fraction).toBe(0);
  });

  test('progress without a node id applies to the node executing now', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4']), executing('5'), progress(10, 20)]);
    expect(p.fraction).toBeCloseTo(14 / 26, 10);
  });

  test('progress for another node finishes the current one', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3']), executing('4'), progress(10, 20, '5')]);
    // Node 4 counted as done, sampler half way.
    expect(p.fraction).toBeCloseTo(14 / 26, 10);
  });

  test('progress reported after the node finished does not count it twice', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4']), executing('5'), progress(19, 20, '5'), executed('5', null)]);
    const f = p.fraction;
    expect(f).toBeCloseTo(24 / 26, 10);
    expect(p.apply(progress(20, 20, '5'))).toBe(false);
    expect(p.fraction).toBe(f);
    feed(p, [executing('6')]);
    expect(p.fraction).toBe(f);
  });

  test('executed marks a node done even without executing', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), executed('7')]);
    expect(p.fraction).toBeCloseTo(1 / 26, 10);
  });

  test('numeric node ids in messages match string ids in the prompt', () => {
    const p = new JobProgress(txt2img());
    p.apply({ type: 'execution_cached', data: { nodes: [1, 2, 3, 4] } });
    p.apply({ type: 'progress', data: { value: 10, max: 20, node: 5 } });
    expect(p.fraction).toBeCloseTo(14 / 26, 10);
  });

  test('unknown message types, missing data and odd execution_cached shapes do not move it', () => {
    const p = new JobProgress(txt2img());
    expect(p.apply({ type: 'crystools.monitor', data: { cpu: 3 } })).toBe(false);
    expect(p.apply({ type: 'feature_flags', data: { supports_preview_metadata: true } })).toBe(false);
    expect(p.apply({ type: 'execution_cached' } as unknown as ComfyMessage)).toBe(false);
    expect(p.apply(msg('execution_cached', { nodes: 'all' }))).toBe(false);
    expect(p.fraction).toBe(0);
  });

  test('executing with a missing node is the same as null: the running node is not counted done', () => {
    const a = new JobProgress(txt2img());
    feed(a, [start(), executing('1'), executing('2'), msg('executing', {})]);
    const b = new JobProgress(txt2img());
    feed(b, [start(), executing('1'), executing('2'), msg('executing', { node: null })]);
    expect(a.fraction).toBeCloseTo(1 / 26, 10);
    expect(b.fraction).toBeCloseTo(a.fraction, 10);
  });

  describe('weights', () => {
    const runSampler = (steps: unknown) => {
      const p = new JobProgress(txt2img(steps));
      feed(p, [start(), cached(['1', '2', '3', '4', '6', '7'])]);
      return p.fraction;
    };

    test('a sampler weighs its steps', () => {
      expect(runSampler(20)).toBeCloseTo(6 / 26, 10);
      expect(runSampler(50)).toBeCloseTo(6 / 56, 10);
    });

    test('steps of 1 or less, or not a number, weigh like any node', () => {
      expect(runSampler(1)).toBeCloseTo(6 / 7, 10);
      expect(runSampler(0)).toBeCloseTo(6 / 7, 10);
      expect(runSampler(-5)).toBeCloseTo(6 / 7, 10);
      expect(runSampler('20')).toBeCloseTo(6 / 7, 10);
      expect(runSampler(['9', 0])).toBeCloseTo(6 / 7, 10);
      expect(runSampler(Number.NaN)).toBeCloseTo(6 / 7, 10);
      expect(runSampler(Number.POSITIVE_INFINITY)).toBeCloseTo(6 / 7, 10);
    });

    test('huge step counts are capped at 10000', () => {
      expect(runSampler(1_000_000)).toBeCloseTo(6 / 10_006, 10);
    });

    test('two samplers each weigh their own steps', () => {
      const prompt: ComfyPrompt = {
        '1': { class_type: 'KSampler', inputs: { steps: 30 } },
        '2': { class_type: 'KSamplerAdvanced', inputs: { steps: 10 } },
        '3': { class_type: 'SaveImage', inputs: {} },
      };
      const p = new JobProgress(prompt);
      feed(p, [start(), executing('1'), progress(30, 30, '1')]);
      expect(p.fraction).toBeCloseTo(30 / 41, 10);
      feed(p, [executing('2'), progress(5, 10, '2')]);
      expect(p.fraction).toBeCloseTo(35 / 41, 10);
    });
  });

  test('an empty prompt does not divide by zero', () => {
    const p = new JobProgress({});
    expect(p.apply(executing('1'))).toBe(false);
    expect(p.apply(executed('1'))).toBe(true);
    expect(p.fraction).toBe(0.99);
  });

  test('nodes not in the prompt never push it to 1', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(Array.from({ length: 100 }, (_, i) => `x${i}`))]);
    expect(p.fraction).toBe(0.99);
  });

  test('a node that runs in steps without a steps input still reports partial progress', () => {
    const prompt: ComfyPrompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'a.png' } },
      '2': { class_type: 'UltimateSDUpscale', inputs: { image: ['1', 0] } },
    };
    const p = new JobProgress(prompt);
    feed(p, [start(), executing('1'), executing('2'), progress(1, 4, '2')]);
    expect(p.fraction).toBeCloseTo(1.25 / 2, 10);
  });

  // ComfyUI repeats `executing {node: <current>}` (without prompt_id) when a socket reconnects with
  // the clientId of the running prompt (protocol notes §10.1); the bridge routes prompt-less frames to
  // the running prompt. JobProgress treats the repeat as "previous node finished", so a sampler at
  // 5/20 is counted as fully done and the fraction jumps from 9/26 to 24/26.
  test('a repeated executing for the node already running does not count it as finished', () => {
    const p = new JobProgress(txt2img());
    feed(p, [start(), cached(['1', '2', '3', '4']), executing('5'), progress(5, 20, '5')]);
    expect(p.fraction).toBeCloseTo(9 / 26, 10);
    p.apply({ type: 'executing', data: { node: '5' } });
    expect(p.fraction).toBeCloseTo(9 / 26, 10);
  });
});

describe('formatPercent', () => {
  test.each([
    [0, '0.00%'],
    [1, '100.00%'],
    [0.5, '50.00%'],
    [0.1262, '12.62%'],
    [0.12625, '12.63%'],
    [1 / 3, '33.33%'],
    [2 / 3, '66.67%'],
    [0.99, '99.00%'],
    [0.00001, '0.00%'],
  ])('%p → %s', (fraction, text) => {
    expect(formatPercent(fraction)).toBe(text);
  });

  test('clamps below 0 and above 1', () => {
    expect(formatPercent(-0.2)).toBe('0.00%');
    expect(formatPercent(-Infinity)).toBe('0.00%');
    expect(formatPercent(1.7)).toBe('100.00%');
    expect(formatPercent(Infinity)).toBe('100.00%');
  });

  test('has the shape clients parse', () => {
    for (let i = 0; i <= 100; i++) expect(formatPercent(i / 100)).toMatch(/^\d{1,3}\.\d{2}%$/);
  });
});
