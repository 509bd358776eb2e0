// The engine as one caller sees it. Every door acts for a caller through this view, so "not
// yours" is decided here, once, for every door: another tenant's job, client or result answers
// exactly as one that does not exist. The operator (admin token) sees every tenant's jobs; a
// clientId is always a name inside the caller's own tenant.
import type { Job } from '../jobs/job.js';
import type { Accepted, Engine, JobSpec } from './engine.js';
import type { Principal } from './tenants.js';
import { TIERS } from '../scheduler/fair-queue.js';
import type { Tier } from '../scheduler/fair-queue.js';

/** May this caller see (and act on) the job? */
export function sees(who: Principal, job: Pick<Job, 'tenant'>): boolean {
  return who.admin || (job.tenant ?? '') === who.tenant;
}

export class CallerView {
  constructor(
    private readonly engine: Engine,
    readonly who: Principal,
  ) {}

  /** Submit a job owned by the caller's tenant. */
  submit(spec: Omit<JobSpec, 'tenant'>): Promise<Accepted> {
    return this.engine.submit({ ...spec, tenant: this.who.tenant, operator: this.who.admin });
  }

  /** Check, patch and submit a catalog workflow for one of the caller's clients. */
  submitWorkflow(clientId: string, body: unknown, door?: string, spec: Pick<JobSpec, 'id' | 'tables' | 'tier'> = {}): Promise<Accepted> {
    return this.engine.submitWorkflow(clientId, body, door, this.who.tenant, { ...spec, operator: this.who.admin });
  }

  /** The priority tiers the caller may ask for: its default, and the highest (any, for the operator). */
  priorities(): { defaultPriority: Tier; maxPriority: Tier } {
    const { defaultPriority, maxPriority } = this.engine.limits(this.who.tenant);
    return { defaultPriority, maxPriority: this.who.admin ? TIERS[0] : maxPriority };
  }

  get(jobId: string): Job | undefined {
    const job = this.engine.get(jobId);
    return job && sees(this.who, job) ? job : undefined;
  }

  /** The jobs the caller may see (of one door, if given). */
  jobs(door?: string): Job[] {
    return this.engine.jobs(door).filter((j) => sees(this.who, j));
  }

  /** The backend that serves (or last served) one of the caller's clients. */
  backendOf(clientId: string): string | undefined {
    return this.engine.backendOf(clientId, this.who.tenant);
  }

  /** Cancel a job the caller may see; false when it is final, unknown or not the caller's. */
  cancel(jobId: string, reason: string): Promise<boolean> {
    return this.get(jobId) ? this.engine.cancel(jobId, reason) : Promise.resolve(false);
  }

  /** Forget finished jobs the caller may see; others' ids are passed over. */
  forget(jobIds: readonly string[], options: { keep?: boolean } = {}): Promise<void> {
    return this.engine.forget(
      jobIds.filter((id) => this.get(id) !== undefined),
      options,
    );
  }
}
