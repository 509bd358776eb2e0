// Which exposed inputs name an input file: their values must be files the client uploaded,
// never a path of the client's choosing.
import type { ExposedInput } from './inputs.js';

/** Core nodes whose `image` input names a file in ComfyUI's input folder. */
const FILE_INPUTS: Record<string, readonly string[]> = {
  LoadImage: ['image'],
  LoadImageMask: ['image'],
  LoadImageOutput: ['image'],
};

const IMAGE_NAME = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;

export function isFileInput(input: Pick<ExposedInput, 'class' | 'input' | 'default'>): boolean {
  if (FILE_INPUTS[input.class]?.includes(input.input)) return true;
  return typeof input.default === 'string' && IMAGE_NAME.test(input.default);
}
