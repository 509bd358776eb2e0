// POST /prompt validation on the simulator: ComfyUI's rules, read from the /object_info this
// backend's own nodes describe, with those nodes' VALIDATE_INPUTS hooks.
import { validatePrompt as validateAgainstSchemas } from '../comfy/validation.js';
import type { InputsHook, ValidationOutcome } from '../comfy/validation.js';
import type { NodeRegistry } from './nodes/registry.js';
import type { NodeEnv } from './nodes/types.js';

/** Validates (and coerces in place) a prompt as this backend would; throws where ComfyUI answers 500. */
export function validatePrompt(prompt: Record<string, unknown>, partialTargets: unknown, registry: NodeRegistry, env: NodeEnv): ValidationOutcome {
  const hooks: InputsHook = (schema) => {
    const node = registry.get(schema.name);
    const args = node?.validateArgs ?? [];
    if (!node?.validateInputs || args.length === 0) return undefined;
    return { args, check: (values) => node.validateInputs!(values, env) };
  };
  return validateAgainstSchemas(prompt, partialTargets, (classType) => registry.objectInfo(classType, env) ?? undefined, hooks);
}
