// The curated workflows, read once at start-up from the workflow folder and the alias file.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileInsideFolder, parseAliasFile } from './alias-file.js';
import type { AliasEntry } from './alias-file.js';
import { buildWorkflow, workflowLabel } from './workflow.js';
import type { Workflow, WorkflowReading } from './workflow.js';

export interface CatalogSource {
  /** The workflow folder (WORKFLOW_DIR). */
  dir: string;
  /** Path of workflow_alias.json; a missing file means no aliases. */
  aliasFile: string;
}

/** Every problem found while loading, so an admin can fix them all in one go. */
export class CatalogError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`the workflow catalog cannot be loaded:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'CatalogError';
    this.problems = problems;
  }
}

export class Catalog {
  readonly #workflows: ReadonlyMap<string, Workflow>;

  private constructor(workflows: ReadonlyMap<string, Workflow>) {
    this.#workflows = workflows;
  }

  /** Reads and checks every workflow; throws one CatalogError listing all problems. */
  static async load(source: CatalogSource): Promise<Catalog> {
    const problems: string[] = [];
    const aliases = await readAliases(source.aliasFile, problems);
    const files = await listWorkflowFiles(source, problems);
    if (files === undefined) throw new CatalogError(problems);

    const named: AliasEntry[] = [];
    const aliasedFiles = new Set<string>();
    for (const { alias, file } of aliases) {
      const inside = fileInsideFolder(source.dir, file);
      if (inside === undefined) {
        problems.push(`${workflowLabel(alias, file)}: the file must be inside the workflow folder ${source.dir}`);
        continue;
      }
      aliasedFiles.add(inside);
      named.push({ alias, file: inside });
    }
    const aliasNames = new Set(aliases.map((entry) => entry.alias));
    for (const file of files) {
      if (aliasedFiles.has(file)) continue;
      if (aliasNames.has(file)) {
        problems.push(`workflow file "${file}" would be listed under its own name, which is already an alias; rename the file or the alias`);
        continue;
      }
      named.push({ alias: file, file });
    }

    const readings = await Promise.all(named.map((entry) => readWorkflow(source.dir, entry)));
    const workflows = new Map<string, Workflow>();
    for (const reading of readings) {
      if (reading.ok) workflows.set(reading.workflow.alias, reading.workflow);
      else problems.push(...reading.problems);
    }
    if (problems.length > 0) throw new CatalogError(problems);
    return new Catalog(workflows);
  }

  /** A catalog of workflows already built (see buildWorkflow), listed in the given order. */
  static fromWorkflows(workflows: readonly Workflow[]): Catalog {
    const byAlias = new Map<string, Workflow>();
    const problems: string[] = [];
    for (const workflow of workflows) {
      if (byAlias.has(workflow.alias)) problems.push(`alias "${workflow.alias}" is used twice`);
      else byAlias.set(workflow.alias, freezeWorkflow(structuredClone(workflow)));
    }
    if (problems.length > 0) throw new CatalogError(problems);
    return new Catalog(byAlias);
  }

  /** Aliases in alias-file order, then the names of unaliased files, sorted. */
  list(): string[] {
    return [...this.#workflows.keys()];
  }

  get(alias: string): Workflow | undefined {
    return this.#workflows.get(alias);
  }
}

async function readAliases(aliasFile: string, problems: string[]): Promise<AliasEntry[]> {
  let text: string;
  try {
    text = await readFile(aliasFile, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    problems.push(`alias file ${aliasFile} cannot be read: ${(error as Error).message}`);
    return [];
  }
  const reading = parseAliasFile(text, aliasFile);
  if (!reading.ok) {
    problems.push(...reading.problems);
    return [];
  }
  return reading.entries;
}

/** The .json files directly in the folder, sorted; undefined when the folder cannot be read. */
async function listWorkflowFiles(source: CatalogSource, problems: string[]): Promise<string[] | undefined> {
  try {
    const entries = await readdir(source.dir, { withFileTypes: true });
    const aliasFile = path.resolve(source.aliasFile);
    return entries
      .filter((entry) => !entry.isDirectory() && !entry.name.startsWith('.') && entry.name.toLowerCase().endsWith('.json'))
      .map((entry) => entry.name)
      // The alias file may live in the workflow folder; it is not a workflow.
      .filter((name) => path.resolve(source.dir, name) !== aliasFile)
      .sort();
  } catch (error) {
    problems.push(`workflow folder ${source.dir} cannot be read: ${(error as Error).message}`);
    return undefined;
  }
}

async function readWorkflow(dir: string, { alias, file }: AliasEntry): Promise<WorkflowReading> {
  const label = workflowLabel(alias, file);
  let text: string;
  try {
    text = await readFile(path.join(dir, file), 'utf8');
  } catch (error) {
    const reason = errorCode(error) === 'ENOENT' ? `not found in ${dir}` : `cannot be read: ${(error as Error).message}`;
    return { ok: false, problems: [`${label}: ${reason}`] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`${label}: not valid JSON: ${(error as Error).message}`] };
  }
  const reading = buildWorkflow(alias, file, json);
  return reading.ok ? { ok: true, workflow: freezeWorkflow(reading.workflow) } : reading;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Workflows are shared by every request; freezing makes an accidental edit throw instead of leaking. */
function freezeWorkflow<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) freezeWorkflow(child);
  }
  return value;
}
