import type { ComfyPrompt, HistoryEntry, NodeErrors, PromptError } from '../../src/comfy/protocol.js';
import {
  BinaryEvent,
  compareNodeIds,
  describeExecutionError,
  describeRejection,
  outputFiles,
  parseBinaryFrame,
} from '../../src/comfy/protocol.js';

describe('outputFiles', () => {
  test('images from several nodes come in numeric node order', () => {
    const outputs: HistoryEntry['outputs'] = {
      '10': { images: [{ filename: 'ten_00001_.png', subfolder: '', type: 'output' }] },
      '9': {
        images: [
          { filename: 'nine_00001_.png', subfolder: 'batch', type: 'output' },
          { filename: 'nine_00002_.png', subfolder: 'batch', type: 'output' },
        ],
      },
      '2': { images: [{ filename: 'ComfyUI_temp_abcd_00001_.png', subfolder: '', type: 'temp' }] },
    };
    expect(outputFiles(outputs)).toEqual([
      { filename: 'ComfyUI_temp_abcd_00001_.png', subfolder: '', type: 'temp' },
      { filename: 'nine_00001_.png', subfolder: 'batch', type: 'output' },
      { filename: 'nine_00002_.png', subfolder: 'batch', type: 'output' },
      { filename: 'ten_00001_.png', subfolder: '', type: 'output' },
    ]);
  });

  test('nothing to collect', () => {
    expect(outputFiles({})).toEqual([]);
  });

  test('null outputs (cached output nodes) and non-objects are skipped', () => {
    const outputs = {
      '1': null,
      '2': 'oops',
      '3': 42,
      '4': { images: [{ filename: 'a.png', subfolder: '', type: 'output' }] },
    } as unknown as HistoryEntry['outputs'];
    expect(outputFiles(outputs)).toEqual([{ filename: 'a.png', subfolder: '', type: 'output' }]);
  });

  test('text outputs and other non-file keys are skipped', () => {
    const outputs: HistoryEntry['outputs'] = {
      '5': { text: ['a caption'], string: 'x', images: [{ filename: 'a.png', subfolder: '', type: 'output' }] },
      '6': { text: ['only text'] },
      '7': { animated: [true] },
    };
    expect(outputFiles(outputs)).toEqual([{ filename: 'a.png', subfolder: '', type: 'output' }]);
  });

  test('entries that are not file references are skipped', () => {
    const outputs = {
      '1': {
        images: [
          null,
          'a.png',
          { filename: 12, subfolder: '', type: 'output' },
          { subfolder: '', type: 'output' },
          { filename: 'ok.png', subfolder: '', type: 'output' },
        ],
      },
      '2': { images: 'not-a-list' },
    } as unknown as HistoryEntry['outputs'];
    expect(outputFiles(outputs)).toEqual([{ filename: 'ok.png', subfolder: '', type: 'output' }]);
  });

  test('missing subfolder and type get defaults', () => {
    const outputs = { '1': { images: [{ filename: 'x.png' }, { filename: 'y.png', subfolder: 7, type: null }] } } as unknown as HistoryEntry['outputs'];
    expect(outputFiles(outputs)).toEqual([
      { filename: 'x.png', subfolder: '', type: 'output' },
      { filename: 'y.png', subfolder: '', type: 'output' },
    ]);
  });

  test('video, gif and audio outputs are files too', () => {
    const outputs: HistoryEntry['outputs'] = {
      '1': { gifs: [{ filename: 'anim.webp', subfolder: '', type: 'output', format: 'image/webp' }] },
      '2': { videos: [{ filename: 'clip.mp4', subfolder: 'video', type: 'output' }] },
      '3': { audio: [{ filename: 'voice.flac', subfolder: 'audio', type: 'output' }] },
      '4': { video: [{ filename: 'v.webm', subfolder: '', type: 'output' }] },
    };
    expect(outputFiles(outputs).map((f) => f.filename)).toEqual(['anim.webp', 'clip.mp4', 'voice.flac', 'v.webm']);
  });

  test('extra fields on a file entry are not copied', () => {
    const outputs: HistoryEntry['outputs'] = { '1': { gifs: [{ filename: 'a.webp', subfolder: '', type: 'output', format: 'image/webp', frame_rate: 8 }] } };
    expect(outputFiles(outputs)).toEqual([{ filename: 'a.webp', subfolder: '', type: 'output' }]);
  });
});

describe('compareNodeIds', () => {
  test('numeric ids compare as numbers', () => {
    expect(compareNodeIds('9', '10')).toBeLessThan(0);
    expect(compareNodeIds('10', '9')).toBeGreaterThan(0);
    expect(compareNodeIds('100', '100')).toBe(0);
    expect(['10', '2', '1', '33', '3'].sort(compareNodeIds)).toEqual(['1', '2', '3', '10', '33']);
  });

  test('non-numeric ids compare as strings', () => {
    expect(compareNodeIds('a', 'b')).toBeLessThan(0);
    expect(compareNodeIds('b', 'a')).toBeGreaterThan(0);
    expect(compareNodeIds('x', 'x')).toBe(0);
    expect(['12:5', '12:10', '3:1'].sort(compareNodeIds)).toEqual(['12:10', '12:5', '3:1']);
  });

  test('numeric ids come before the rest when that agrees with string order', () => {
    expect(['save', '3', '1'].sort(compareNodeIds)).toEqual(['1', '3', 'save']);
  });

  // The doc comment promises "numeric ids in numeric order, then the rest", but a numeric id
  // against a non-numeric one falls back to string order: compareNodeIds('9', '10:1') > 0, so
  // subgraph ids like "10:1" can sort before plain numeric ids, and the comparator is not
  // transitive ('9' < '10' < '10:1' < '9').
  test('numeric ids come before non-numeric ones', () => {
    expect(compareNodeIds('9', '10:1')).toBeLessThan(0);
    expect(['10:1', '9', '10'].sort(compareNodeIds)).toEqual(['9', '10', '10:1']);
  });
});

describe('describeRejection', () => {
  // The 400 body from protocol notes §3.
  const error: PromptError = {
    type: 'prompt_outputs_failed_validation',
    message: 'Prompt outputs failed validation',
    details: '',
    extra_info: {},
  };
  const nodeErrors: NodeErrors = {
    '1': {
      class_type: 'EmptyImage',
      dependent_outputs: ['3', '4'],
      errors: [
        {
          type: 'value_smaller_than_min',
          message: 'Value 0 smaller than min of 1',
          details: 'width',
          extra_info: {
            input_name: 'width',
            input_config: ['INT', { default: 512, min: 1, max: 16384, step: 1 }],
            received_value: 0,
          },
        },
      ],
    },
  };

  test('object error with node_errors names the node, its class and the input', () => {
    expect(describeRejection(error, nodeErrors)).toBe(
      'Prompt outputs failed validation: node 1 (EmptyImage) input "width": Value 0 smaller than min of 1',
    );
  });

  test('the node title from the prompt is preferred over the class', () => {
    const prompt: ComfyPrompt = { '1': { class_type: 'EmptyImage', inputs: {}, _meta: { title: 'Blank canvas' } } };
    expect(describeRejection(error, nodeErrors, prompt)).toBe(
      'Prompt outputs failed validation: node 1 (Blank canvas) input "width": Value 0 smaller than min of 1',
    );
  });

  test('the class from the prompt is used when node_errors lacks it', () => {
    const prompt: ComfyPrompt = { '7': { class_type: 'LoadImage', inputs: {} } };
    const ne: NodeErrors = { '7': { errors: [{ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: 'image - Invalid image file: missing.png', extra_info: { input_name: 'image' } }] } };
    expect(describeRejection(error, ne, prompt)).toBe(
      'Prompt outputs failed validation: node 7 (LoadImage) input "image": Custom validation failed for node (image - Invalid image file: missing.png)',
    );
    expect(describeRejection(error, ne)).toContain('node 7 (unknown)');
  });

  test('details that add something are kept, details equal to the input name are not', () => {
    const ne: NodeErrors = {
      '4': {
        class_type: 'CheckpointLoaderSimple',
        errors: [
          {
            type: 'value_not_in_list',
            message: 'Value not in list',
            details: "ckpt_name: 'sdxl.safetensors' not in ['sd15.safetensors']",
            extra_info: { input_name: 'ckpt_name', received_value: 'sdxl.safetensors' },
          },
        ],
      },
    };
    expect(describeRejection(error, ne)).toBe(
      "Prompt outputs failed validation: node 4 (CheckpointLoaderSimple) input \"ckpt_name\": Value not in list (ckpt_name: 'sdxl.safetensors' not in ['sd15.safetensors'])",
    );
  });

  test('a reason without an input name still reads well', () => {
    const ne: NodeErrors = {
      '3': { class_type: 'KSampler', errors: [{ type: 'exception_during_validation', message: 'Exception when validating node', details: "KeyError: '99'" }] },
    };
    expect(describeRejection(error, ne)).toBe("Prompt outputs failed validation: node 3 (KSampler): Exception when validating node (KeyError: '99')");
  });

  test('several nodes and reasons are joined with "; "', () => {
    const ne: NodeErrors = {
      '1': nodeErrors['1'],
      '6': {
        class_type: 'SaveImage',
        errors: [
          { type: 'required_input_missing', message: 'Required input is missing', details: 'filename_prefix', extra_info: { input_name: 'filename_prefix' } },
          { type: 'required_input_missing', message: 'Required input is missing', details: 'images', extra_info: { input_name: 'images' } },
        ],
      },
    };
    expect(describeRejection(error, ne)).toBe(
      'Prompt outputs failed validation: node 1 (EmptyImage) input "width": Value 0 smaller than min of 1; ' +
        'node 6 (SaveImage) input "filename_prefix": Required input is missing; ' +
        'node 6 (SaveImage) input "images": Required input is missing',
    );
  });

  test('the old string error with a list node_errors (before 0.3.28)', () => {
    expect(describeRejection('no prompt', [])).toBe('no prompt');
  });

  test('an object error without node errors uses its details', () => {
    const invalid: PromptError = {
      type: 'invalid_prompt',
      message: 'Cannot execute because a node is missing the class_type property.',
      details: "Node ID '#2'",
      extra_info: {},
    };
    expect(describeRejection(invalid, {})).toBe("Cannot execute because a node is missing the class_type property. Node ID '#2'");
  });

  test('empty details add nothing', () => {
    expect(describeRejection({ type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} }, {})).toBe('Prompt has no outputs');
  });

  test('node errors with no reasons fall back to the head', () => {
    expect(describeRejection(error, { '3': { class_type: 'SaveImage', errors: [] } })).toBe('Prompt outputs failed validation');
    expect(describeRejection(error, { '3': { class_type: 'SaveImage' } } as unknown as NodeErrors)).toBe('Prompt outputs failed validation');
  });

  test('no error at all', () => {
    expect(describeRejection(undefined, undefined)).toBe('prompt rejected');
  });
});

describe('describeExecutionError', () => {
  test('a runtime error names the node, its type and the exception', () => {
    const data = {
      prompt_id: 'p',
      node_id: '5',
      node_type: 'KSampler',
      executed: ['1', '2', '3', '4'],
      exception_message: 'Allocation on device 0 would exceed allowed memory. (out of memory)',
      exception_type: 'torch.OutOfMemoryError',
      traceback: ['  File "execution.py", line 1\n'],
      current_inputs: {},
      current_outputs: ['1'],
      timestamp: 1,
    };
    expect(describeExecutionError(data)).toBe(
      'node 5 (KSampler) failed: torch.OutOfMemoryError: Allocation on device 0 would exceed allowed memory. (out of memory)',
    );
  });

  test('a trailing newline in the message is trimmed', () => {
    expect(describeExecutionError({ node_id: '3', node_type: 'VAEDecode', exception_type: 'RuntimeError', exception_message: 'bad shape\n' })).toBe(
      'node 3 (VAEDecode) failed: RuntimeError: bad shape',
    );
  });

  test('without a node type', () => {
    expect(describeExecutionError({ node_id: 12, exception_type: 'ValueError', exception_message: 'x' })).toBe('node 12 failed: ValueError: x');
  });

  test('without a node id', () => {
    expect(describeExecutionError({ exception_type: 'ValueError', exception_message: 'x' })).toBe('a node failed: ValueError: x');
  });

  test('only a type or only a message', () => {
    expect(describeExecutionError({ node_id: '1', exception_type: 'KeyError' })).toBe('node 1 failed: KeyError');
    expect(describeExecutionError({ node_id: '1', exception_message: 'file not found' })).toBe('node 1 failed: file not found');
  });

  test('nothing known', () => {
    expect(describeExecutionError({})).toBe('a node failed: unknown error');
    expect(describeExecutionError({ node_id: '2', exception_type: '', exception_message: '' })).toBe('node 2 failed: unknown error');
  });
});

describe('parseBinaryFrame', () => {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);

  test('the enum matches protocol.py', () => {
    expect(BinaryEvent).toEqual({ PREVIEW_IMAGE: 1, UNENCODED_PREVIEW_IMAGE: 2, TEXT: 3, PREVIEW_IMAGE_WITH_METADATA: 4 });
  });

  test('type 1 preview: type read, no prompt id, whole frame kept', () => {
    const frame = Buffer.concat([u32(1), u32(1), jpeg]);
    const parsed = parseBinaryFrame(frame);
    expect(parsed).toEqual({ type: BinaryEvent.PREVIEW_IMAGE, data: frame });
    expect(parsed?.promptId).toBeUndefined();
    expect(parsed?.data.equals(frame)).toBe(true);
  });

  test('type 3 text: no prompt id', () => {
    const node = Buffer.from('12', 'utf8');
    const frame = Buffer.concat([u32(3), u32(node.length), node, Buffer.from('Downloading model… 40%', 'utf8')]);
    const parsed = parseBinaryFrame(frame);
    expect(parsed?.type).toBe(BinaryEvent.TEXT);
    expect(parsed?.promptId).toBeUndefined();
    expect(parsed?.data).toBe(frame);
  });

  test('type 4 preview with metadata carries its prompt id', () => {
    const meta = Buffer.from(
      JSON.stringify({
        node_id: '5',
        prompt_id: 'af1b6e8f-7473-4737-a2c9-2a933b5c2527',
        display_node_id: '5',
        parent_node_id: null,
        real_node_id: '5',
        image_type: 'image/jpeg',
      }),
      'utf8',
    );
    const frame = Buffer.concat([u32(4), u32(meta.length), meta, jpeg]);
    expect(parseBinaryFrame(frame)).toEqual({ type: 4, promptId: 'af1b6e8f-7473-4737-a2c9-2a933b5c2527', data: frame });
  });

  test('type 4 metadata with a non-ASCII field is measured in bytes', () => {
    const meta = Buffer.from(JSON.stringify({ node_id: 'ノード', prompt_id: 'p-1' }), 'utf8');
    const frame = Buffer.concat([u32(4), u32(meta.length), meta, jpeg]);
    expect(parseBinaryFrame(frame)?.promptId).toBe('p-1');
  });

  test('type 4 without a string prompt_id', () => {
    for (const meta of [{ node_id: '5' }, { prompt_id: 42 }, null, ['p']]) {
      const m = Buffer.from(JSON.stringify(meta));
      const frame = Buffer.concat([u32(4), u32(m.length), m]);
      const parsed = parseBinaryFrame(frame);
      expect(parsed?.type).toBe(4);
      expect(parsed?.promptId).toBeUndefined();
    }
  });

  test('type 4 with garbled JSON keeps the frame without a prompt id', () => {
    const m = Buffer.from('{"prompt_id": "p', 'utf8');
    const frame = Buffer.concat([u32(4), u32(m.length), m, jpeg]);
    expect(parseBinaryFrame(frame)).toEqual({ type: 4, data: frame });
  });

  test('type 4 whose length runs past the end', () => {
    const m = Buffer.from('{"prompt_id":"p"}', 'utf8');
    const frame = Buffer.concat([u32(4), u32(m.length + 1), m]);
    expect(parseBinaryFrame(frame)).toEqual({ type: 4, data: frame });
    const huge = Buffer.concat([u32(4), u32(0xffffffff), m]);
    expect(parseBinaryFrame(huge)).toEqual({ type: 4, data: huge });
  });

  test('type 4 with a length that stops short of the JSON end', () => {
    const m = Buffer.from('{"prompt_id":"p"}', 'utf8');
    const frame = Buffer.concat([u32(4), u32(m.length - 1), m]);
    expect(parseBinaryFrame(frame)?.promptId).toBeUndefined();
  });

  test('type 4 with no room for a length', () => {
    const frame = Buffer.concat([u32(4), Buffer.from([0, 0])]);
    expect(parseBinaryFrame(frame)).toEqual({ type: 4, data: frame });
  });

  test('a frame of exactly four bytes', () => {
    expect(parseBinaryFrame(u32(1))).toEqual({ type: 1, data: u32(1) });
  });

  test('frames shorter than four bytes are not frames', () => {
    expect(parseBinaryFrame(Buffer.alloc(0))).toBeUndefined();
    expect(parseBinaryFrame(Buffer.from([0, 0, 1]))).toBeUndefined();
  });

  test('unknown types are passed through', () => {
    const frame = Buffer.concat([u32(0x01020304), jpeg]);
    expect(parseBinaryFrame(frame)).toEqual({ type: 0x01020304, data: frame });
  });

  test('the type is read big-endian', () => {
    expect(parseBinaryFrame(Buffer.from([1, 0, 0, 0]))?.type).toBe(0x01000000);
    expect(parseBinaryFrame(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0]))?.type).toBe(4);
  });
});
