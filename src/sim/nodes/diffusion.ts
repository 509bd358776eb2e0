// The text-to-image pipeline nodes. No math happens: latents carry size, batch
// and a seed folded from everything upstream, and sampling is a timed step loop.
import type { NodeClass } from './types.js';
import { MAX_RESOLUTION } from './types.js';
import type { LatentValue } from './values.js';
import { asConditioning, asImage, asLatent, asModel, colourOf, seedOf } from './values.js';

export const SAMPLERS = [
  'euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'dpm_2', 'dpm_2_ancestral',
  'lms', 'dpm_fast', 'dpm_adaptive', 'dpmpp_2s_ancestral', 'dpmpp_2s_ancestral_cfg_pp', 'dpmpp_sde', 'dpmpp_sde_gpu',
  'dpmpp_2m', 'dpmpp_2m_cfg_pp', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu', 'dpmpp_2m_sde_heun', 'dpmpp_2m_sde_heun_gpu',
  'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'ddpm', 'lcm', 'ipndm', 'ipndm_v', 'deis', 'res_multistep', 'res_multistep_cfg_pp',
  'res_multistep_ancestral', 'res_multistep_ancestral_cfg_pp', 'gradient_estimation', 'gradient_estimation_cfg_pp',
  'er_sde', 'seeds_2', 'seeds_3', 'sa_solver', 'sa_solver_pece', 'ddim', 'uni_pc', 'uni_pc_bh2',
];

export const SCHEDULERS = [
  'simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal',
];

export const CheckpointLoaderSimple: NodeClass = {
  name: 'CheckpointLoaderSimple',
  displayName: 'Load Checkpoint',
  description: 'Loads a diffusion model checkpoint, diffusion models are used to denoise latents.',
  category: 'loaders',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['MODEL', 'CLIP', 'VAE'],
  outputTooltips: [
    'The model used for denoising latents.',
    'The CLIP model used for encoding text prompts.',
    'The VAE model used for encoding and decoding images to and from latent space.',
  ],
  inputTypes: (env) => ({
    required: { ckpt_name: [[...env.checkpoints], { tooltip: 'The name of the checkpoint (model) to load.' }] },
  }),
  async run(ctx, inputs) {
    const ckpt = String(inputs.ckpt_name);
    const loadMs = ctx.env.models?.use(ckpt) ?? 0;
    if (loadMs > 0) await ctx.work(loadMs);
    return {
      outputs: [
        { kind: 'MODEL', ckpt },
        { kind: 'CLIP', ckpt },
        { kind: 'VAE', ckpt },
      ],
    };
  },
};

export const CLIPTextEncode: NodeClass = {
  name: 'CLIPTextEncode',
  displayName: 'CLIP Text Encode (Prompt)',
  description:
    'Encodes a text prompt using a CLIP model into an embedding that can be used to guide the diffusion model towards generating specific images.',
  category: 'conditioning',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['CONDITIONING'],
  outputTooltips: ['A conditioning containing the embedded text used to guide the diffusion model.'],
  inputTypes: () => ({
    required: {
      text: ['STRING', { multiline: true, dynamicPrompts: true, tooltip: 'The text to be encoded.' }],
      clip: ['CLIP', { tooltip: 'The CLIP model used for encoding the text.' }],
    },
  }),
  async run(_ctx, inputs) {
    return { outputs: [{ kind: 'CONDITIONING', text: String(inputs.text), ckpt: asModel(inputs.clip)?.ckpt ?? '' }] };
  },
};

export const EmptyLatentImage: NodeClass = {
  name: 'EmptyLatentImage',
  displayName: 'Empty Latent Image',
  description: 'Create a new batch of empty latent images to be denoised via sampling.',
  category: 'latent',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['LATENT'],
  outputTooltips: ['The empty latent image batch.'],
  inputTypes: () => ({
    required: {
      width: ['INT', { default: 512, min: 16, max: MAX_RESOLUTION, step: 8, tooltip: 'The width of the latent images in pixels.' }],
      height: ['INT', { default: 512, min: 16, max: MAX_RESOLUTION, step: 8, tooltip: 'The height of the latent images in pixels.' }],
      batch_size: ['INT', { default: 1, min: 1, max: 4096, tooltip: 'The number of latent images in the batch.' }],
    },
  }),
  async run(_ctx, inputs) {
    const latent: LatentValue = {
      kind: 'LATENT',
      width: Number(inputs.width),
      height: Number(inputs.height),
      batch: Number(inputs.batch_size ?? 1),
      seed: 0,
    };
    return { outputs: [latent] };
  },
};

export const KSampler: NodeClass = {
  name: 'KSampler',
  displayName: 'KSampler',
  description: 'Uses the provided model, positive and negative conditioning to denoise the latent image.',
  category: 'sampling',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['LATENT'],
  outputTooltips: ['The denoised latent.'],
  selfTimed: true,
  inputTypes: () => ({
    required: {
      model: ['MODEL', { tooltip: 'The model used for denoising the input latent.' }],
      seed: ['INT', { default: 0, min: 0, max: 0xffffffffffffffff, control_after_generate: true, tooltip: 'The random seed used for creating the noise.' }],
      steps: ['INT', { default: 20, min: 1, max: 10000, tooltip: 'The number of steps used in the denoising process.' }],
      cfg: ['FLOAT', { default: 8.0, min: 0.0, max: 100.0, step: 0.1, round: 0.01, tooltip: 'The Classifier-Free Guidance scale balances creativity and adherence to the prompt. Higher values result in images more closely matching the prompt however too high values will negatively impact quality.' }],
      sampler_name: [SAMPLERS, { tooltip: 'The algorithm used when sampling, this can affect the quality, speed, and style of the generated output.' }],
      scheduler: [SCHEDULERS, { tooltip: 'The scheduler controls how noise is gradually removed to form the image.' }],
      positive: ['CONDITIONING', { tooltip: 'The conditioning describing the attributes you want to include in the image.' }],
      negative: ['CONDITIONING', { tooltip: 'The conditioning describing the attributes you want to exclude from the image.' }],
      latent_image: ['LATENT', { tooltip: 'The latent image to denoise.' }],
      denoise: ['FLOAT', { default: 1.0, min: 0.0, max: 1.0, step: 0.01, tooltip: 'The amount of denoising applied, lower values will maintain the structure of the initial image allowing for image to image sampling.' }],
    },
  }),
  async run(ctx, inputs) {
    const latent = asLatent(inputs.latent_image) ?? { kind: 'LATENT', width: 512, height: 512, batch: 1, seed: 0 };
    const seed = seedOf(
      inputs.seed,
      asConditioning(inputs.positive)?.text,
      asConditioning(inputs.negative)?.text,
      asModel(inputs.model)?.ckpt,
      inputs.steps,
      inputs.cfg,
      inputs.sampler_name,
      inputs.scheduler,
      inputs.denoise,
      latent.seed,
    );
    const steps = Math.max(1, Number(inputs.steps));
    for (let step = 1; step <= steps; step++) {
      await ctx.work(ctx.settings.stepMs);
      // The preview drifts towards the final colour as sampling proceeds.
      await ctx.progress(step, steps, colourOf(seed, step === steps ? 'final' : step));
    }
    return { outputs: [{ ...latent, seed }] };
  },
};

export const VAEDecode: NodeClass = {
  name: 'VAEDecode',
  displayName: 'VAE Decode',
  description: 'Decodes latent images back into pixel space images.',
  category: 'latent',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['IMAGE'],
  outputTooltips: ['The decoded image.'],
  inputTypes: () => ({
    required: {
      samples: ['LATENT', { tooltip: 'The latent to be decoded.' }],
      vae: ['VAE', { tooltip: 'The VAE model used for decoding the latent.' }],
    },
  }),
  async run(_ctx, inputs) {
    const latent = asLatent(inputs.samples) ?? { kind: 'LATENT', width: 512, height: 512, batch: 1, seed: 0 };
    // Latents are 1/8 of the pixel size, so the decoded image is rounded down to a multiple of 8.
    const width = Math.max(8, Math.floor(latent.width / 8) * 8);
    const height = Math.max(8, Math.floor(latent.height / 8) * 8);
    return {
      outputs: [{ kind: 'IMAGE', width, height, batch: latent.batch, rgb: colourOf(latent.seed, 'final') }],
    };
  },
};

export const VAEEncode: NodeClass = {
  name: 'VAEEncode',
  displayName: 'VAE Encode',
  description: '',
  category: 'latent',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['LATENT'],
  inputTypes: () => ({ required: { pixels: ['IMAGE'], vae: ['VAE'] } }),
  async run(_ctx, inputs) {
    const image = asImage(inputs.pixels) ?? { kind: 'IMAGE', width: 512, height: 512, batch: 1, rgb: [0, 0, 0] };
    const latent: LatentValue = {
      kind: 'LATENT',
      width: image.width,
      height: image.height,
      batch: image.batch,
      seed: seedOf(image.rgb),
    };
    return { outputs: [latent] };
  },
};
