// Which backends may run a job: the pool's learned capabilities (capabilities.ts) and the
// operator's pins, asked by the scheduler (where a job may go), the engine (refusing at
// submission a job no known backend can run) and PoolInfo (the pool's /object_info and model
// lists: the union over backends, so a graph valid on some backend validates).
import type { Backend } from './backend.js';
import { NO_PINS, canRun, requirementsOf, unionFolders, unionObjectInfo, whyUnrunnable } from './capabilities.js';
import type { Capabilities, Missing, Pins, Requirements, Verdict } from './capabilities.js';
import type { ObjectInfo } from '../comfy/object-info.js';
import type { Job } from '../jobs/job.js';

export type { Missing, Pins, Requirements, Verdict } from './capabilities.js';

interface Union {
  key: readonly (Capabilities | undefined)[];
  objectInfo: ObjectInfo | undefined;
  folders: Map<string, string[]>;
  folderOf: Map<string, string>;
}

export class Routing {
  /** Off: every healthy backend may take any job (as before capabilities were learned; for comparisons). */
  enabled = true;
  private union_: Union | undefined;
  private readonly needs = new WeakMap<Job, { union: Union; req: Requirements }>();
  private readonly answers = new WeakMap<Job, { req: Requirements; by: Map<Backend, { caps: Capabilities | undefined; labels: readonly string[]; ok: boolean }> }>();

  constructor(
    /** The pool (live): backends work may go to. */
    private readonly pool: () => readonly Backend[],
    readonly pins: Pins = NO_PINS,
  ) {}

  /** Backends of the pool that have described themselves. */
  learned(): Backend[] {
    return this.pool().filter((b) => b.capabilities !== undefined);
  }

  private union(): Union {
    const key = this.pool().map((b) => b.capabilities);
    const u = this.union_;
    if (u && u.key.length === key.length && u.key.every((c, i) => c === key[i])) return u;
    const all = key.filter((c): c is Capabilities => c !== undefined);
    const folders = unionFolders(all);
    const folderOf = new Map<string, string>();
    for (const [folder, files] of folders) for (const f of files) if (!folderOf.has(f)) folderOf.set(f, folder);
    return (this.union_ = { key, objectInfo: unionObjectInfo(all), folders, folderOf });
  }

  /** /object_info of the pool: every class any backend has, combos offering every backend's choices; undefined until one has described itself. */
  objectInfo(): ObjectInfo | undefined {
    return this.union().objectInfo;
  }

  /** Model folders of the pool, each with every file some backend has there (empty until learned). */
  modelFolders(): Map<string, string[]> {
    return this.union().folders;
  }

  /** What a graph needs, judged against the pool as it is now. */
  requirements(prompt: Record<string, unknown>, workflow = ''): Requirements {
    const u = this.union();
    return requirementsOf(prompt, u.objectInfo, (f) => u.folderOf.get(f), workflow);
  }

  /** A job's requirements (kept with the job while the pool's capabilities stay the same). */
  requirementsOf(job: Job): Requirements {
    const u = this.union();
    const kept = this.needs.get(job);
    if (kept && kept.union === u) return kept.req;
    const req = requirementsOf(job.prompt as Record<string, unknown>, u.objectInfo, (f) => u.folderOf.get(f), job.workflow);
    this.needs.set(job, { union: u, req });
    return req;
  }

  verdict(req: Requirements, backend: Backend): Verdict {
    return canRun(req, backend.capabilities, backend, this.pins);
  }

  /** May the scheduler send this job to this backend? (Kept per job and backend while neither changes.) */
  runsOn(job: Job, backend: Backend): boolean {
    if (!this.enabled) return true;
    const req = this.requirementsOf(job);
    let per = this.answers.get(job);
    if (!per || per.req !== req) this.answers.set(job, (per = { req, by: new Map() }));
    const kept = per.by.get(backend);
    if (kept && kept.caps === backend.capabilities && kept.labels === backend.labels) return kept.ok;
    const ok = this.verdict(req, backend).ok;
    per.by.set(backend, { caps: backend.capabilities, labels: backend.labels, ok });
    return ok;
  }

  /**
   * Why no known backend can run a graph, or undefined when one can (it may be down now: the
   * job waits for it). Known: described itself; until one has, nothing is refused here (the
   * backend has the last word). A backend that does not describe itself counts as able.
   */
  refusal(prompt: Record<string, unknown>, workflow = ''): { problems: string[]; missing: Missing } | undefined {
    if (!this.enabled) return undefined;
    const pool = this.pool();
    const known = pool.filter((b) => b.capabilities !== undefined || b.reachable);
    if (known.length === 0 && this.pins.workflows.size === 0 && this.pins.models.size === 0) return undefined;
    const judged = known.length ? known : [...pool];
    const req = this.requirements(prompt, workflow);
    if (judged.some((b) => this.verdict(req, b).ok)) return undefined;
    const verdicts = judged.map((b) => ({ backend: b.url, verdict: this.verdict(req, b) }));
    if (verdicts.length === 0) return { problems: ['the pool has no backend'], missing: { nodeClasses: [], models: [], pins: [] } };
    return whyUnrunnable(req, verdicts);
  }
}
