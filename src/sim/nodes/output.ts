// Output nodes: the only ones that produce UI output and files.
import { posix } from 'node:path';
import type { FolderType } from '../../comfy/file-names.js';
import { resolveInside } from '../../comfy/file-names.js';
import { encodeSolidPng } from '../png.js';
import { isPlainObject, pyFloatRepr, pyJson, PyError } from '../../comfy/python.js';
import type { NodeClass, NodeContext } from './types.js';
import { asImage, describe, isFake } from './values.js';

const SAVE_DESCRIPTION = 'Saves the input images to your ComfyUI output directory.';
const FOLDER_ROOT = '/ComfyUI';

/** %width%, %height% and the date fields that get_save_image_path substitutes. */
function computeVars(prefix: string, width: number, height: number): string {
  const now = new Date();
  const two = (n: number) => String(n).padStart(2, '0');
  return prefix
    .replaceAll('%width%', String(width))
    .replaceAll('%height%', String(height))
    .replaceAll('%year%', String(now.getFullYear()))
    .replaceAll('%month%', two(now.getMonth() + 1))
    .replaceAll('%day%', two(now.getDate()))
    .replaceAll('%hour%', two(now.getHours()))
    .replaceAll('%minute%', two(now.getMinutes()))
    .replaceAll('%second%', two(now.getSeconds()));
}

/** os.path.normpath for relative POSIX paths. */
function normpath(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

/** Next free counter for `<name>_NNNNN_` files, as get_save_image_path scans the folder. */
function nextCounter(existing: string[], prefix: string, filename: string): number {
  const prefixLength = posix.basename(prefix).length;
  let best: [number, string] | null = null;
  for (const name of existing) {
    const head = name.slice(0, prefixLength + 1);
    if (head.slice(0, -1) !== filename || !head.endsWith('_')) continue;
    const digits = /^\d+$/.test(name.slice(prefixLength + 1).split('_')[0]!) ? Number(name.slice(prefixLength + 1).split('_')[0]) : 0;
    if (!best || digits > best[0] || (digits === best[0] && head > best[1])) best = [digits, head];
  }
  return best ? best[0] + 1 : 1;
}

/** The PNG text chunks SaveImage writes, plus the prompt id so files can be traced to their prompt. */
function pngText(ctx: NodeContext): Array<[string, string]> {
  const text: Array<[string, string]> = [['prompt', pyJson(ctx.prompt)]];
  if (isPlainObject(ctx.extraPngInfo)) {
    for (const [key, value] of Object.entries(ctx.extraPngInfo)) text.push([key, pyJson(value)]);
  }
  text.push(['prompt_id', ctx.promptId]);
  return text;
}

async function saveImages(ctx: NodeContext, images: unknown, prefixInput: string, type: FolderType) {
  const image = asImage(images);
  if (!image) throw new PyError('TypeError', `'${isFake(images) ? images.kind : typeof images}' object is not subscriptable`);
  const prefix = prefixInput.includes('%') ? computeVars(prefixInput, image.width, image.height) : prefixInput;
  const normal = normpath(prefix);
  const subfolder = posix.dirname(normal) === '.' ? '' : posix.dirname(normal);
  const filename = posix.basename(normal);
  const folder = resolveInside(subfolder);
  if (folder === null) {
    const full = posix.resolve(`${FOLDER_ROOT}/${type}`, subfolder);
    throw new PyError(
      'Exception',
      `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${full}\n         output_dir: ${FOLDER_ROOT}/${type}\n         commonpath: ${FOLDER_ROOT}`,
    );
  }
  let counter = nextCounter(ctx.env.files.namesIn(type, folder), prefix, filename);
  const text = pngText(ctx);
  const results: Array<{ filename: string; subfolder: string; type: FolderType }> = [];
  for (let batch = 0; batch < image.batch; batch++) {
    const file = `${filename.replaceAll('%batch_num%', String(batch))}_${String(counter).padStart(5, '0')}_.png`;
    const bytes = encodeSolidPng({
      width: image.width,
      height: image.height,
      rgb: image.rgb,
      text,
      minBytes: ctx.settings.outputBytes,
    });
    ctx.env.files.put(type, folder === '' ? file : `${folder}/${file}`, bytes);
    results.push({ filename: file, subfolder, type });
    counter++;
  }
  return results;
}

export const SaveImage: NodeClass = {
  name: 'SaveImage',
  displayName: 'Save Image',
  description: SAVE_DESCRIPTION,
  category: 'image',
  pythonModule: 'nodes',
  outputNode: true,
  returnTypes: [],
  inputTypes: () => ({
    required: {
      images: ['IMAGE', { tooltip: 'The images to save.' }],
      filename_prefix: [
        'STRING',
        {
          default: 'ComfyUI',
          tooltip:
            'The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes.',
        },
      ],
    },
    hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
  }),
  async run(ctx, inputs) {
    const images = await saveImages(ctx, inputs.images, String(inputs.filename_prefix ?? 'ComfyUI'), 'output');
    return { outputs: [], ui: { images } };
  },
};

const TEMP_LETTERS = 'abcdefghijklmnopqrstupvxyz';

export const PreviewImage: NodeClass = {
  name: 'PreviewImage',
  displayName: 'Preview Image',
  description: SAVE_DESCRIPTION,
  category: 'image',
  pythonModule: 'nodes',
  outputNode: true,
  returnTypes: [],
  inputTypes: () => ({
    required: { images: ['IMAGE'] },
    hidden: { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' },
  }),
  async run(ctx, inputs) {
    // The random suffix belongs to the node object, so it is reused while the node id stays in the graph.
    let suffix = ctx.instance.get('suffix');
    if (typeof suffix !== 'string') {
      suffix = Array.from({ length: 5 }, () => TEMP_LETTERS[Math.floor(Math.random() * TEMP_LETTERS.length)]).join('');
      ctx.instance.set('suffix', suffix);
    }
    const images = await saveImages(ctx, inputs.images, `ComfyUI_temp_${suffix}`, 'temp');
    return { outputs: [], ui: { images } };
  },
};

/** PreviewAny's rendering: strings as-is, numbers via str(), the rest as JSON or str(). */
function previewText(source: unknown): string {
  if (source === undefined || source === null) return 'None';
  if (typeof source === 'string') return source;
  if (typeof source === 'boolean') return source ? 'True' : 'False';
  if (typeof source === 'number') return Number.isInteger(source) ? String(source) : pyFloatRepr(source);
  if (isFake(source)) return describe(source);
  return pyJson(source);
}

export const PreviewAny: NodeClass = {
  name: 'PreviewAny',
  displayName: 'Preview Any',
  description: '',
  category: 'utils',
  pythonModule: 'comfy_extras.nodes_preview_any',
  outputNode: true,
  returnTypes: [],
  inputTypes: () => ({ required: { source: ['*', {}] } }),
  async run(_ctx, inputs) {
    return { outputs: [], ui: { text: [previewText(inputs.source)] } };
  },
};
