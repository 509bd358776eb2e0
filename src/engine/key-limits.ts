// What each API key may use: the priority tiers it may ask for, the tier its jobs get when they ask
// for none, and how many unfinished jobs it (and each of its clients) may have. Read from
// PRIORITY_DEFAULT, PRIORITY_MAX and KEY_LIMITS by config.ts; applied by Engine.admit, so every
// door has the same limits.
import type { Tier } from '../scheduler/fair-queue.js';
import { TIERS, isTier, tierRank } from '../scheduler/fair-queue.js';

/** A KEY_LIMITS entry naming every key without one of its own (and the open space). */
export const ANY_KEY = '*';

/** One key's entry in KEY_LIMITS: what it sets, the rest from the general settings. */
export interface KeyLimit {
  maxPriority?: Tier;
  defaultPriority?: Tier;
  /** Unfinished jobs of the key over all its clients; 0: no limit. */
  maxJobs?: number;
  /** Unfinished jobs of one of its clients (MAX_JOBS_PER_CLIENT for this key); 0: no limit. */
  maxJobsPerClient?: number;
}

export interface PrioritySettings {
  /** PRIORITY_DEFAULT: a job's tier when it asks for none. */
  defaultPriority: Tier;
  /** PRIORITY_MAX: the highest tier a key may ask for (the operator may ask for any). */
  maxPriority: Tier;
  /** KEY_LIMITS: per key name (or ANY_KEY). */
  keys: Record<string, KeyLimit>;
}

/** The limits that hold for one tenant. */
export interface Limits {
  defaultPriority: Tier;
  maxPriority: Tier;
  maxJobs: number;
  maxJobsPerClient: number;
}

const OPTIONS = ['max_priority', 'default_priority', 'max_jobs', 'max_jobs_per_client'] as const;

/**
 * KEY_LIMITS: comma-separated entries `name:option=value;option=value`, the name an API key's
 * (or `*` for every key without an entry). Options: max_priority, default_priority (a tier),
 * max_jobs, max_jobs_per_client (a count, 0 for none). Problems are pushed naming the setting.
 */
export function parseKeyLimits(raw: string | undefined, keyNames: readonly string[], problems: string[]): Record<string, KeyLimit> {
  const out: Record<string, KeyLimit> = {};
  for (const part of (raw ?? '').split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const colon = entry.indexOf(':');
    const name = colon < 0 ? '' : entry.slice(0, colon).trim();
    if (name === '' || colon === entry.length - 1) {
      problems.push(`KEY_LIMITS entry ${JSON.stringify(entry.slice(0, 60))} is not name:option=value;… (options: ${OPTIONS.join(', ')})`);
      continue;
    }
    if (name !== ANY_KEY && !keyNames.includes(name)) {
      problems.push(`KEY_LIMITS names ${JSON.stringify(name.slice(0, 64))}, which is no API key's name (API_KEYS=name:key); * names every key`);
      continue;
    }
    if (name in out) problems.push(`KEY_LIMITS names ${JSON.stringify(name)} twice`);
    const limit: KeyLimit = {};
    for (const option of entry.slice(colon + 1).split(';')) {
      const [key, value, ...rest] = option.split('=').map((s) => s.trim());
      const where = `KEY_LIMITS entry for ${name}`;
      if (rest.length || value === undefined || value === '') {
        problems.push(`${where}: ${JSON.stringify(option.slice(0, 40))} is not option=value (options: ${OPTIONS.join(', ')})`);
      } else if (key === 'max_priority' || key === 'default_priority') {
        if (!isTier(value)) problems.push(`${where}: ${key}=${JSON.stringify(value.slice(0, 20))} is not one of ${TIERS.join(', ')}`);
        else limit[key === 'max_priority' ? 'maxPriority' : 'defaultPriority'] = value;
      } else if (key === 'max_jobs' || key === 'max_jobs_per_client') {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0 || n > 10_000_000) problems.push(`${where}: ${key}=${JSON.stringify(value.slice(0, 20))} is not a whole number from 0 (no limit) to 10000000`);
        else limit[key === 'max_jobs' ? 'maxJobs' : 'maxJobsPerClient'] = n;
      } else {
        problems.push(`${where}: unknown option ${JSON.stringify(key.slice(0, 40))} (options: ${OPTIONS.join(', ')})`);
      }
    }
    out[name] = limit;
  }
  return out;
}

/** The limits of a tenant: its KEY_LIMITS entry, else the `*` entry, over the general settings. */
export function limitsOf(settings: PrioritySettings, maxJobsPerClient: number, tenant: string): Limits {
  const own = Object.hasOwn(settings.keys, tenant) ? settings.keys[tenant] : Object.hasOwn(settings.keys, ANY_KEY) ? settings.keys[ANY_KEY] : {};
  return {
    defaultPriority: own.defaultPriority ?? settings.defaultPriority,
    maxPriority: own.maxPriority ?? settings.maxPriority,
    maxJobs: own.maxJobs ?? 0,
    maxJobsPerClient: own.maxJobsPerClient ?? maxJobsPerClient,
  };
}

/** A default tier above the highest one allowed, for any key (or the open space): each is a problem. */
export function priorityProblems(settings: PrioritySettings, keyNames: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of ['', ...keyNames]) {
    const { defaultPriority, maxPriority } = limitsOf(settings, 0, name);
    if (tierRank(defaultPriority) < tierRank(maxPriority)) {
      const own = Object.hasOwn(settings.keys, name) ? name : Object.hasOwn(settings.keys, ANY_KEY) ? ANY_KEY : undefined;
      problems.push(
        `${own !== undefined ? `KEY_LIMITS (${own})` : 'PRIORITY_DEFAULT'} makes ${name === '' ? 'jobs sent without a key' : `key ${name}'s jobs`} default to ${defaultPriority}, above the highest priority allowed (${maxPriority}); lower the default or raise max_priority / PRIORITY_MAX`,
      );
    }
  }
  return [...new Set(problems)];
}
