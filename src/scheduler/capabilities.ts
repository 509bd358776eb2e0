// What a backend can run, and what a job needs: node classes (its /object_info) and model files
// (its /models/{folder} lists, and the choices its loaders' combo inputs offer). Pure: the
// Backend learns the answers, the scheduler and the engine ask these functions.
//
// A job runs on a backend that has every node class its graph names and every model file it
// loads, and that its pins (an operator's ROUTING_FILE) allow.
import { isPlainObject } from '../comfy/python.js';
import { normaliseSpec, uploadKind } from '../comfy/object-info.js';
import type { ObjectInfo } from '../comfy/object-info.js';

/** File endings of model weights: a value like this in a loader's combo is a model file. */
const MODEL_FILE = /\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx|pt2|yaml)$/i;

/** What one backend told about itself. */
export interface Capabilities {
  /** /object_info as the backend answered it. */
  readonly objectInfo: ObjectInfo;
  readonly classes: ReadonlySet<string>;
  /** Model folder → files in it (GET /models/{folder}); empty for a backend without /models. */
  readonly folders: ReadonlyMap<string, readonly string[]>;
  /** Every file of every folder. */
  readonly modelFiles: ReadonlySet<string>;
  /** When it was learned (ms). */
  readonly learnedAt: number;
}

export function describeBackend(objectInfo: ObjectInfo, folders: ReadonlyMap<string, readonly string[]> = new Map(), learnedAt = Date.now()): Capabilities {
  const modelFiles = new Set<string>();
  for (const files of folders.values()) for (const f of files) modelFiles.add(f);
  return { objectInfo, classes: new Set(Object.keys(objectInfo)), folders, modelFiles, learnedAt };
}

/** A model file a node of the graph loads. */
export interface ModelNeed {
  node: string;
  classType: string;
  input: string;
  file: string;
  /** The model folder that lists it, when a backend does. */
  folder?: string;
}

/** What a job needs of the backend that runs it. */
export interface Requirements {
  /** Node classes, each once, sorted. */
  classes: string[];
  /** The node ids of each class. */
  nodes: Record<string, string[]>;
  models: ModelNeed[];
  /** The curated workflow's alias, for pins ('' for a graph sent as is). */
  workflow: string;
}

/** The choices of a combo input, or undefined when the input is not a combo there. */
function comboChoices(entry: unknown, input: string): { choices: readonly unknown[]; options: Record<string, unknown> } | undefined {
  if (!isPlainObject(entry) || !isPlainObject(entry.input)) return undefined;
  for (const section of ['required', 'optional'] as const) {
    const specs = entry.input[section];
    if (!isPlainObject(specs) || !Object.hasOwn(specs, input)) continue;
    const spec = normaliseSpec(specs[input]);
    if (spec && Array.isArray(spec[0])) return { choices: spec[0], options: spec[1] ?? {} };
    return undefined;
  }
  return undefined;
}

/**
 * The node classes and model files a graph needs. A model file is a literal value of a combo
 * input that is not an upload (LoadImage's image is the bridge's to send), which some backend's
 * /models lists or which is named like model weights. `objectInfo` is the pool's (the union over
 * backends); `folderOf` tells which model folder lists a file.
 */
export function requirementsOf(graph: Record<string, unknown>, objectInfo: ObjectInfo | undefined, folderOf: (file: string) => string | undefined = () => undefined, workflow = ''): Requirements {
  const classes = new Set<string>();
  const nodes: Record<string, string[]> = Object.create(null);
  const models: ModelNeed[] = [];
  for (const [node, value] of Object.entries(graph)) {
    if (!isPlainObject(value) || typeof value.class_type !== 'string') continue;
    const classType = value.class_type;
    classes.add(classType);
    (nodes[classType] ??= []).push(node);
    if (!isPlainObject(value.inputs)) continue;
    const entry = objectInfo && Object.hasOwn(objectInfo, classType) ? objectInfo[classType] : undefined;
    for (const [input, v] of Object.entries(value.inputs)) {
      if (typeof v !== 'string' || v === '') continue;
      const folder = folderOf(v);
      if (entry !== undefined) {
        const combo = comboChoices(entry, input);
        if (!combo || uploadKind(combo.options) !== undefined) continue;
      } else if (!input.endsWith('_name')) {
        // A class no backend describes: its loaders are known by their input names only.
        continue;
      }
      if (folder === undefined && !MODEL_FILE.test(v)) continue;
      models.push({ node, classType, input, file: v, ...(folder !== undefined && { folder }) });
    }
  }
  return { classes: [...classes].sort(), nodes, models, workflow };
}

/** Operator pins: a workflow or a model file runs only on backends with one of these URLs or labels. */
export interface Pins {
  workflows: ReadonlyMap<string, readonly string[]>;
  models: ReadonlyMap<string, readonly string[]>;
}

export const NO_PINS: Pins = { workflows: new Map(), models: new Map() };

/** A backend as pins name it. */
export interface BackendIdentity {
  url: string;
  labels: readonly string[];
}

export interface Verdict {
  ok: boolean;
  /** Node classes it lacks. */
  classes: string[];
  /** Model files it lacks. */
  models: ModelNeed[];
  /** Pins that keep the job off it, in words. */
  pins: string[];
}

function matches(backend: BackendIdentity, targets: readonly string[]): boolean {
  return targets.some((t) => t === backend.url || backend.labels.includes(t));
}

/** Does the backend offer this file for this input (its combo's choices, or a /models folder)? */
function hasModel(caps: Capabilities, need: ModelNeed): boolean {
  if (caps.modelFiles.has(need.file)) return true;
  const combo = comboChoices(caps.objectInfo[need.classType], need.input);
  return combo !== undefined && combo.choices.includes(need.file);
}

/**
 * Can this backend run a job with these requirements? `caps` undefined: the backend has not
 * described itself, so only the pins are judged (the backend has the last word).
 */
export function canRun(req: Requirements, caps: Capabilities | undefined, backend: BackendIdentity, pins: Pins = NO_PINS): Verdict {
  const classes = caps ? req.classes.filter((c) => !caps.classes.has(c)) : [];
  const models = caps ? req.models.filter((m) => !hasModel(caps, m)) : [];
  const pinned: string[] = [];
  const wf = req.workflow !== '' ? pins.workflows.get(req.workflow) : undefined;
  if (wf && !matches(backend, wf)) pinned.push(`workflow "${req.workflow}" is pinned to ${wf.join(', ')}`);
  for (const file of new Set(req.models.map((m) => m.file))) {
    const targets = pins.models.get(file);
    if (targets && !matches(backend, targets)) pinned.push(`model ${file} is pinned to ${targets.join(', ')}`);
  }
  return { ok: classes.length === 0 && models.length === 0 && pinned.length === 0, classes, models, pins: pinned };
}

/** What is missing, for a client: node classes and model files, with the nodes that name them. */
export interface Missing {
  nodeClasses: { classType: string; nodes: string[] }[];
  models: { file: string; folder?: string; nodes: { node: string; classType: string; input: string }[] }[];
  pins: string[];
}

const MAX_LISTED = 8;

/**
 * Why no backend can run a job, given each known backend's verdict: what no backend has, or
 * else what each one lacks (a graph whose parts are on different backends, or pins). Answers the
 * problems in words and what is missing (what no backend has, else what the closest one lacks).
 */
export function whyUnrunnable(req: Requirements, verdicts: readonly { backend: string; verdict: Verdict }[]): { problems: string[]; missing: Missing } {
  const everywhere = <T>(pick: (v: Verdict) => T[], key: (t: T) => string): T[] => {
    const first = verdicts[0] ? pick(verdicts[0].verdict) : [];
    return first.filter((t) => verdicts.every(({ verdict }) => pick(verdict).some((u) => key(u) === key(t))));
  };
  let classes = everywhere((v) => v.classes, (c) => c);
  let models = everywhere((v) => v.models, (m) => `${m.node}\n${m.input}`);
  let pins = everywhere((v) => v.pins, (p) => p);
  const problems: string[] = [];
  if (classes.length) problems.push(`no backend has node class${classes.length > 1 ? 'es' : ''} ${classes.join(', ')}`);
  const files = [...new Set(models.map((m) => m.file))];
  if (files.length) problems.push(`no backend has model file${files.length > 1 ? 's' : ''} ${files.map((f) => describeFile(f, models)).join(', ')}`);
  problems.push(...pins);
  if (problems.length === 0) {
    // Each part is somewhere, but no backend has them all (or pins keep the job from those that do).
    for (const { backend, verdict } of verdicts.slice(0, MAX_LISTED)) problems.push(`${backend} lacks ${lacks(verdict)}`);
    if (verdicts.length > MAX_LISTED) problems.push(`(and ${verdicts.length - MAX_LISTED} more backends)`);
    const closest = [...verdicts].sort((a, b) => size(a.verdict) - size(b.verdict))[0]?.verdict;
    if (closest) [classes, models, pins] = [closest.classes, closest.models, closest.pins];
  }
  const byFile = new Map<string, Missing['models'][number]>();
  for (const m of models) {
    let entry = byFile.get(m.file);
    if (!entry) byFile.set(m.file, (entry = { file: m.file, ...(m.folder !== undefined && { folder: m.folder }), nodes: [] }));
    entry.nodes.push({ node: m.node, classType: m.classType, input: m.input });
  }
  return {
    problems,
    missing: {
      nodeClasses: classes.map((classType) => ({ classType, nodes: [...(req.nodes[classType] ?? [])] })),
      models: [...byFile.values()],
      pins,
    },
  };
}

function describeFile(file: string, models: readonly ModelNeed[]): string {
  const folder = models.find((m) => m.file === file && m.folder !== undefined)?.folder;
  return folder ? `${file} (${folder})` : file;
}

function size(v: Verdict): number {
  return v.classes.length + v.models.length + v.pins.length;
}

function lacks(v: Verdict): string {
  const parts: string[] = [];
  if (v.classes.length) parts.push(`node class${v.classes.length > 1 ? 'es' : ''} ${v.classes.join(', ')}`);
  const files = [...new Set(v.models.map((m) => m.file))];
  if (files.length) parts.push(`model file${files.length > 1 ? 's' : ''} ${files.join(', ')}`);
  const text = parts.join(' and ');
  return v.pins.length ? `${text}${text ? '; ' : ''}${v.pins.join('; ')}` : text;
}

/**
 * The pool's /object_info: every class any backend has; where several have a class, the first's
 * entry with each combo input offering every backend's choices (so a graph valid on some backend
 * validates, and capabilities decide where it runs).
 */
export function unionObjectInfo(all: readonly Capabilities[]): ObjectInfo | undefined {
  if (all.length === 0) return undefined;
  if (all.length === 1) return all[0].objectInfo;
  const out: ObjectInfo = {};
  const merged = new Set<string>();
  for (const caps of all) {
    for (const [name, entry] of Object.entries(caps.objectInfo)) {
      if (!Object.hasOwn(out, name)) {
        out[name] = entry;
        continue;
      }
      if (!merged.has(name)) {
        out[name] = structuredClone(out[name]);
        merged.add(name);
      }
      mergeCombos(out[name], entry);
    }
  }
  return out;
}

/** Add `other`'s combo choices to `into`'s combo inputs of the same name (in place). */
function mergeCombos(into: unknown, other: unknown): void {
  if (!isPlainObject(into) || !isPlainObject(into.input) || !isPlainObject(other) || !isPlainObject(other.input)) return;
  for (const section of ['required', 'optional'] as const) {
    const a = into.input[section];
    const b = other.input[section];
    if (!isPlainObject(a) || !isPlainObject(b)) continue;
    for (const [input, spec] of Object.entries(a)) {
      if (!Array.isArray(spec) || !Object.hasOwn(b, input)) continue;
      const theirs = normaliseSpec(b[input]);
      if (!theirs || !Array.isArray(theirs[0])) continue;
      if (Array.isArray(spec[0])) {
        spec[0] = [...new Set([...(spec[0] as unknown[]), ...theirs[0]])];
      } else if (spec[0] === 'COMBO' && isPlainObject(spec[1]) && Array.isArray(spec[1].options)) {
        spec[1].options = [...new Set([...(spec[1].options as unknown[]), ...theirs[0]])];
      }
    }
  }
}

/** Model folders over backends: folder → every file any backend lists there. */
export function unionFolders(all: readonly Capabilities[]): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const caps of all) {
    for (const [folder, files] of caps.folders) {
      let set = out.get(folder);
      if (!set) out.set(folder, (set = new Set()));
      for (const f of files) set.add(f);
    }
  }
  return new Map([...out].map(([k, v]) => [k, [...v]]));
}

/** What is missing, node by node (for a door that reports errors per node). */
export function missingByNode(missing: Missing): Map<string, { classType: string; nodeClass?: true; input?: string; file?: string }[]> {
  const out = new Map<string, { classType: string; nodeClass?: true; input?: string; file?: string }[]>();
  const add = (node: string, item: { classType: string; nodeClass?: true; input?: string; file?: string }) => {
    const list = out.get(node);
    if (list) list.push(item);
    else out.set(node, [item]);
  };
  for (const c of missing.nodeClasses) for (const node of c.nodes) add(node, { classType: c.classType, nodeClass: true });
  for (const m of missing.models) for (const n of m.nodes) add(n.node, { classType: n.classType, input: n.input, file: m.file });
  return out;
}
