// JSON cannot tell `7.0` from `7`, so an integral default on an input that ComfyUI
// declares FLOAT would otherwise be typed "int" and refuse 7.5. These are the FLOAT
// inputs of ComfyUI's core nodes (nodes.py, comfy_extras/) whose defaults are often
// written as whole numbers.

/** Names that are FLOAT on every core node that has them. */
const FLOAT_EVERYWHERE: ReadonlySet<string> = new Set([
  'base_shift',
  'blend_factor',
  'blur_sigma',
  'cfg',
  'conditioning_to_strength',
  'denoise',
  'end_percent',
  'eta',
  'guidance',
  'max_shift',
  'megapixels',
  'min_cfg',
  'multiplier',
  'noise_augmentation',
  's_noise',
  'scale_by',
  'seconds',
  'shift',
  'sigma',
  'sigma_max',
  'sigma_min',
  'start_percent',
  'strength',
  'strength_clip',
  'strength_model',
]);

/** Names that are INT on most nodes but FLOAT on these classes. */
const FLOAT_ON_CLASS: Readonly<Record<string, ReadonlySet<string>>> = {
  ConditioningSetAreaPercentage: new Set(['width', 'height', 'x', 'y']),
  ConditioningSetAreaPercentageVideo: new Set(['width', 'height', 'x', 'y', 'z']),
  ConditioningSetTimestepRange: new Set(['start', 'end']),
  CreateVideo: new Set(['fps']),
  PrimitiveFloat: new Set(['value']),
  SaveAnimatedPNG: new Set(['fps']),
  SaveAnimatedWEBP: new Set(['fps']),
  SaveWEBM: new Set(['fps']),
  SolidMask: new Set(['value']),
  ThresholdMask: new Set(['value']),
};

/** True when ComfyUI declares this input FLOAT, as far as the core nodes tell. */
export function isFloatInput(classType: string, input: string): boolean {
  if (FLOAT_EVERYWHERE.has(input)) return true;
  return Object.hasOwn(FLOAT_ON_CLASS, classType) && FLOAT_ON_CLASS[classType]!.has(input);
}
