// Nodes from ComfyUI's tests/execution testing pack, used to make timing and
// failures deterministic.
import { PyError } from '../../comfy/python.js';
import type { NodeClass } from './types.js';

const PACK = 'custom_nodes.testing-pack';

/** ComfyUI reports progress every 10 ms; long sleeps are reported in at most this many slices. */
const MAX_SLICES = 1000;

export const TestSleep: NodeClass = {
  name: 'TestSleep',
  displayName: 'Test Sleep',
  description: '',
  category: '_for_testing',
  pythonModule: PACK,
  outputNode: false,
  returnTypes: ['*'],
  isAsync: true,
  selfTimed: true,
  inputTypes: () => ({
    required: {
      seconds: ['FLOAT', { default: 1.0, min: 0.0, max: 9999.0, step: 0.01, tooltip: 'The amount of seconds to sleep.' }],
    },
    // Required in the testing pack; optional here so a bare sleep can feed PreviewAny.
    optional: { value: ['*', {}] },
    hidden: { unique_id: 'UNIQUE_ID' },
  }),
  async run(ctx, inputs) {
    const seconds = Number(inputs.seconds);
    const slice = Math.max(0.01, seconds / MAX_SLICES);
    let elapsed = 0;
    while (elapsed < seconds) {
      await ctx.progress(elapsed, seconds);
      const d = Math.min(slice, seconds - elapsed);
      await ctx.work(d * 1000);
      elapsed += d;
    }
    if (seconds > 0) await ctx.progress(seconds, seconds);
    return { outputs: [inputs.value === undefined ? null : inputs.value] };
  },
};

export const TestSyncError: NodeClass = {
  name: 'TestSyncError',
  displayName: 'Test Sync Error',
  description: '',
  category: '_for_testing/async',
  pythonModule: PACK,
  outputNode: false,
  returnTypes: ['*'],
  inputTypes: () => ({ required: { value: ['*', {}] } }),
  async run() {
    throw new PyError('RuntimeError', 'Intentional sync execution error for testing', [
      '  File "/ComfyUI/execution.py", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n',
      '  File "/ComfyUI/execution.py", line 315, in get_output_data\n    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n',
      '  File "/ComfyUI/execution.py", line 289, in _async_map_node_over_list\n    await process_inputs(input_dict, i)\n',
      '  File "/ComfyUI/execution.py", line 277, in process_inputs\n    result = f(**inputs)\n',
      '  File "/ComfyUI/custom_nodes/testing-pack/async_test_nodes.py", line 135, in sync_error\n    raise RuntimeError("Intentional sync execution error for testing")\n',
    ]);
  },
};
