// workflow_alias.json: alias → workflow file name, relative to the workflow folder.

import path from 'node:path';
import { isPlainObject } from './graph.js';

export type AliasEntry = { alias: string; file: string };

export type AliasReading = { ok: true; entries: AliasEntry[] } | { ok: false; problems: string[] };

/** Reads the alias file's text; entries keep the file's order. */
export function parseAliasFile(text: string, source: string): AliasReading {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`alias file ${source} is not valid JSON: ${(error as Error).message}`] };
  }
  if (!isPlainObject(json)) {
    return { ok: false, problems: [`alias file ${source} must be a JSON object mapping alias to file name`] };
  }
  const entries: AliasEntry[] = [];
  const problems: string[] = [];
  for (const [alias, file] of Object.entries(json)) {
    if (alias.trim() === '') problems.push(`alias file ${source}: an alias must not be empty`);
    else if (typeof file !== 'string' || file.trim() === '') {
      problems.push(`alias file ${source}: alias "${alias}" must map to a file name string`);
    } else entries.push({ alias, file });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, entries };
}

/**
 * The file's path relative to the folder, normalised ("a/../b.json" → "b.json"),
 * or undefined when it would leave the folder.
 */
export function fileInsideFolder(folder: string, file: string): string | undefined {
  if (path.isAbsolute(file) || file.includes('\0')) return undefined;
  const relative = path.relative(path.resolve(folder), path.resolve(folder, file));
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    return undefined;
  }
  return relative.split(path.sep).join('/');
}
