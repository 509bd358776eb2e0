// The curated door's view of a client's work: its jobs (those it submitted here), the current
// session (not yet collected), the status it is told, and collecting the results.
import type { ClientRef, Engine } from '../engine/index.js';
import { clientKey } from '../engine/index.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import { summarize } from '../jobs/client-status.js';
import type { ClientStatus } from '../jobs/client-status.js';
import { formatPercent } from '../jobs/progress.js';

/** This door's name on the jobs it submits. */
export const CURATED_DOOR = 'curated';

export class CuratedSessions {
  /**
   * The highest fraction each client was told in its session: what it sees never goes back,
   * though a job added to the session (or sent back to the queue) lowers the average.
   */
  private readonly reported = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(readonly engine: Engine) {
    this.unsubscribe = engine.events.subscribe((event) => {
      if (event.kind === 'collected') this.reported.delete(clientKey(event));
      else if (event.kind === 'removed') {
        for (const client of event.jobs) if (this.jobs(client).length === 0) this.reported.delete(clientKey(client));
      }
    });
  }

  close(): void {
    this.unsubscribe();
  }

  /** The client's jobs from this door (the other door has its own view of its jobs). */
  jobs(client: ClientRef): Job[] {
    return this.engine.jobsOf(client.clientId, CURATED_DOOR, client.tenant);
  }

  /** The client's uncollected jobs (the current session of work). */
  session(client: ClientRef): Job[] {
    return this.jobs(client).filter((j) => j.collectedAt === undefined);
  }

  /**
   * What to tell a client about its work; progress never goes backwards within a session.
   * Once everything is collected, the last session still answers (closed or error) unless
   * `collected` is false.
   */
  status(client: ClientRef, { collected = true } = {}): ClientStatus | undefined {
    let jobs = this.session(client);
    if (jobs.length === 0 && collected) jobs = this.jobs(client);
    const status = summarize(jobs, {
      position: (j) => this.engine.position(j.id),
      fraction: (j) => (isFinal(j) ? 1 : j.progress?.value ?? 0),
    });
    if (status?.status !== 'progress' || status.fraction === undefined) return status;
    const key = clientKey(client);
    const best = Math.max(this.reported.get(key) ?? 0, status.fraction);
    this.reported.set(key, best);
    return { ...status, fraction: best, detail: formatPercent(best) };
  }

  /** Completed, uncollected jobs of a client, oldest first. */
  collectable(client: ClientRef): Job[] {
    return this.session(client)
      .filter((j) => j.state === 'completed')
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** After a complete delivery: the delivered jobs and the session's other finished ones are forgotten. */
  async collected(client: ClientRef, jobs: Job[]): Promise<void> {
    // Failed and cancelled jobs of the session have been reported; they end with it.
    const ended = this.session(client).filter((j) => isFinal(j) && !jobs.includes(j));
    await this.engine.forget([...jobs, ...ended].map((j) => j.id), { keep: true });
  }

  /** Cancel every unfinished job the client sent through this door. */
  cancel(client: ClientRef, reason: string): Promise<number> {
    return this.engine.cancelClient(client.clientId, reason, CURATED_DOOR, client.tenant);
  }

  /** The backend that serves (or last served) the client. */
  backendOf(client: ClientRef): string | undefined {
    return this.engine.backendOf(client.clientId, client.tenant);
  }
}
