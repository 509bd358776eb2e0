// ROUTING_FILE: the operator's pins. Workflows (by alias) and model files (as graphs name them)
// run only on the backends given by URL or label (labels from COMFYUI_SERVERS, BACKENDS_FILE or
// POST /admin/backends). Checking is pure and reports every problem.
import { readFileSync } from 'node:fs';
import { parseAddress } from '../comfy/address.js';
import { isPlainObject } from '../comfy/python.js';
import type { Pins } from '../scheduler/capabilities.js';
import { LABEL, LABEL_RULE } from './backend-spec.js';

export const ROUTING_EXAMPLE = '{"workflows": {"txt2img": ["sdxl"]}, "models": {"sdxl_base.safetensors": ["sdxl", "http://gpu3:8188"]}}';

/** Pins from the file's JSON value; `where` prefixes each problem. */
export function parsePins(value: unknown, where: string): { pins: Pins; problems: string[] } {
  const problems: string[] = [];
  const workflows = new Map<string, string[]>();
  const models = new Map<string, string[]>();
  if (!isPlainObject(value)) return { pins: { workflows, models }, problems: [`${where} must be a JSON object like ${ROUTING_EXAMPLE}`] };
  const unknown = Object.keys(value).filter((k) => k !== 'workflows' && k !== 'models');
  if (unknown.length) problems.push(`${where}: unknown field ${JSON.stringify(unknown[0].slice(0, 40))} (known: workflows, models)`);
  for (const [field, into] of [['workflows', workflows], ['models', models]] as const) {
    const section = value[field];
    if (section === undefined) continue;
    if (!isPlainObject(section)) {
      problems.push(`${where}: "${field}" must be an object of name → list of backend URLs or labels`);
      continue;
    }
    for (const [name, targets] of Object.entries(section)) {
      const at = `${where}: ${field} ${JSON.stringify(name.slice(0, 100))}`;
      if (!Array.isArray(targets) || targets.length === 0 || targets.some((t) => typeof t !== 'string')) {
        problems.push(`${at} must list backend URLs or labels, like ["sdxl"]`);
        continue;
      }
      const out: string[] = [];
      for (const t of targets as string[]) {
        if (LABEL.test(t) && !t.includes(':')) {
          out.push(t);
          continue;
        }
        const parsed = parseAddress(t);
        if (!parsed.ok) problems.push(`${at}: ${JSON.stringify(t.slice(0, 100))} is neither a label (${LABEL_RULE} characters) nor a backend URL`);
        else if (parsed.address.credentials) problems.push(`${at}: give backend URLs without credentials`);
        else out.push(parsed.address.url);
      }
      into.set(name, out);
    }
  }
  return { pins: { workflows, models }, problems };
}

/** Read and check ROUTING_FILE. */
export function readPins(file: string): { pins: Pins; problems: string[] } {
  const empty: Pins = { workflows: new Map(), models: new Map() };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { pins: empty, problems: [`ROUTING_FILE=${JSON.stringify(file)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { pins: empty, problems: [`ROUTING_FILE (${file}) is not valid JSON; expected ${ROUTING_EXAMPLE}`] };
  }
  return parsePins(value, `ROUTING_FILE (${file})`);
}
