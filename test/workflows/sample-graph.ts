import type { PromptGraph } from '../../src/workflows/index.js';

/** A small text-to-image graph with a few exposed inputs of every type. */
export function sampleGraph(): PromptGraph {
  return {
    '10': {
      class_type: 'SaveImage',
      inputs: { images: ['8', 0], filename_prefix: 'bridge/test' },
      _meta: { title: 'Save', apiinput: 'filename_prefix' },
    },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed: 42,
        steps: 20,
        cfg: 7,
        denoise: 1,
        sampler_name: 'euler',
        scheduler: 'normal',
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
      _meta: { title: 'Sampler', apiinput: ' seed ,steps, cfg,denoise ' },
    },
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '6': {
      class_type: 'CLIPTextEncode',
      inputs: { text: 'a cat', clip: ['4', 1] },
      _meta: { apiinput: 'text' },
    },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] }, _meta: { title: 'Negative' } },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': {
      class_type: 'CustomSwitch',
      inputs: { enabled: true, image: ['8', 0] },
      _meta: { title: 'Sharpen', apiinput: 'enabled' },
    },
  };
}
