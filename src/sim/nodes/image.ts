// Image nodes from nodes.py / comfy_extras: sources and simple pixel transforms.
import { createHash } from 'node:crypto';
import { annotatedName } from '../../comfy/file-names.js';
import { isPng, pngFirstPixel, pngSize } from '../png.js';
import { PyError } from '../../comfy/python.js';
import type { NodeClass, NodeEnv } from './types.js';
import { MAX_RESOLUTION } from './types.js';
import type { ImageValue } from './values.js';
import { asImage, colourOf, rgbFromInt } from './values.js';

const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'webp', 'gif', 'bmp', 'tif', 'tiff', 'ico', 'svg', 'avif', 'heic', 'heif']);

/** LoadImage's combo: image files directly in input/, sorted. */
function inputImages(env: NodeEnv): string[] {
  return env.files
    .namesIn('input', '')
    .filter((name) => IMAGE_EXTENSIONS.has(name.split('.').pop()!.toLowerCase()))
    .sort();
}

/** Input that is not a fake IMAGE (e.g. a literal fed to an ANY output) still behaves like a 64x64 image. */
function imageOf(value: unknown): ImageValue {
  return asImage(value) ?? { kind: 'IMAGE', width: 64, height: 64, batch: 1, rgb: colourOf(value) };
}

function diskPath(name: string): string {
  const parsed = annotatedName(name);
  return `/ComfyUI/${parsed.type ?? 'input'}/${parsed.name}`;
}

export const EmptyImage: NodeClass = {
  name: 'EmptyImage',
  displayName: 'EmptyImage',
  description: '',
  category: 'image',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['IMAGE'],
  inputTypes: () => ({
    required: {
      width: ['INT', { default: 512, min: 1, max: MAX_RESOLUTION, step: 1 }],
      height: ['INT', { default: 512, min: 1, max: MAX_RESOLUTION, step: 1 }],
      batch_size: ['INT', { default: 1, min: 1, max: 4096 }],
      color: ['INT', { default: 0, min: 0, max: 0xffffff, step: 1, display: 'color' }],
    },
  }),
  async run(_ctx, inputs) {
    const image: ImageValue = {
      kind: 'IMAGE',
      width: Number(inputs.width),
      height: Number(inputs.height),
      batch: Number(inputs.batch_size ?? 1),
      rgb: rgbFromInt(Number(inputs.color ?? 0)),
    };
    return { outputs: [image] };
  },
};

export const LoadImage: NodeClass = {
  name: 'LoadImage',
  displayName: 'Load Image',
  description: '',
  category: 'image',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['IMAGE', 'MASK'],
  inputTypes: (env) => ({ required: { image: [inputImages(env), { image_upload: true }] } }),
  validateArgs: ['image'],
  validateInputs(args, env) {
    const image = String(args.image);
    return env.files.existsAnnotated(image) ? true : `Invalid image file: ${image}`;
  },
  isChanged(inputs, env) {
    const file = env.files.getAnnotated(String(inputs.image));
    return file ? file.bytes.sha256() : '';
  },
  async run(ctx, inputs) {
    const name = String(inputs.image);
    const file = ctx.env.files.getAnnotated(name);
    if (!file) throw new PyError('FileNotFoundError', `[Errno 2] No such file or directory: '${diskPath(name)}'`);
    const bytes = file.bytes.toBuffer();
    let image: ImageValue;
    let alpha = 255;
    if (isPng(bytes)) {
      const size = pngSize(bytes);
      const pixel = pngFirstPixel(bytes);
      alpha = pixel?.alpha ?? 255;
      image = { kind: 'IMAGE', width: size.width, height: size.height, batch: 1, rgb: pixel?.rgb ?? [128, 128, 128] };
    } else if (looksLikeImage(bytes)) {
      const hash = createHash('sha1').update(bytes).digest();
      image = { kind: 'IMAGE', width: 512, height: 512, batch: 1, rgb: [hash[0]!, hash[1]!, hash[2]!] };
    } else {
      throw new PyError('PIL.UnidentifiedImageError', `cannot identify image file '${diskPath(name)}'`);
    }
    return {
      outputs: [image, { kind: 'MASK', width: image.width, height: image.height, batch: 1, alpha: 255 - alpha }],
    };
  },
};

/** JPEG, GIF, WebP and BMP signatures: decodable by PIL, but the simulator does not read their pixels. */
function looksLikeImage(bytes: Buffer): boolean {
  const ascii = bytes.toString('latin1', 0, 12);
  return (
    (bytes[0] === 0xff && bytes[1] === 0xd8) ||
    ascii.startsWith('GIF8') ||
    (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') ||
    ascii.startsWith('BM')
  );
}

export const ImageInvert: NodeClass = {
  name: 'ImageInvert',
  displayName: 'Invert Image',
  description: '',
  category: 'image',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['IMAGE'],
  inputTypes: () => ({ required: { image: ['IMAGE'] } }),
  async run(_ctx, inputs) {
    const image = imageOf(inputs.image);
    const [r, g, b] = image.rgb;
    return { outputs: [{ ...image, rgb: [255 - r, 255 - g, 255 - b] }] };
  },
};

export const ImageScale: NodeClass = {
  name: 'ImageScale',
  displayName: 'Upscale Image',
  description: '',
  category: 'image/upscaling',
  pythonModule: 'nodes',
  outputNode: false,
  returnTypes: ['IMAGE'],
  inputTypes: () => ({
    required: {
      image: ['IMAGE'],
      upscale_method: [['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']],
      width: ['INT', { default: 512, min: 0, max: MAX_RESOLUTION, step: 1 }],
      height: ['INT', { default: 512, min: 0, max: MAX_RESOLUTION, step: 1 }],
      crop: [['disabled', 'center']],
    },
  }),
  async run(_ctx, inputs) {
    const image = imageOf(inputs.image);
    let width = Number(inputs.width);
    let height = Number(inputs.height);
    if (width === 0 && height === 0) return { outputs: [image] };
    // A zero side keeps the aspect ratio, as ImageScale.upscale does.
    if (width === 0) width = Math.max(1, Math.round((image.width * height) / image.height));
    else if (height === 0) height = Math.max(1, Math.round((image.height * width) / image.width));
    return { outputs: [{ ...image, width, height }] };
  },
};

export const ImageBlur: NodeClass = {
  name: 'ImageBlur',
  displayName: 'Image Blur',
  description: '',
  category: 'image/postprocessing',
  pythonModule: 'comfy_extras.nodes_post_processing',
  outputNode: false,
  returnTypes: ['IMAGE'],
  outputTooltips: [null],
  inputTypes: () => ({
    required: {
      image: ['IMAGE', {}],
      blur_radius: ['INT', { default: 1, min: 1, max: 31, step: 1 }],
      sigma: ['FLOAT', { default: 1.0, min: 0.1, max: 10.0, step: 0.1 }],
    },
  }),
  // Blurring a solid colour leaves it unchanged.
  async run(_ctx, inputs) {
    return { outputs: [imageOf(inputs.image)] };
  },
};
