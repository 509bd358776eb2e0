// Errors the engine answers a door with; each door turns them into its own protocol's answer.

/** A client mistake: becomes a 4xx with this detail. */
export class ClientError extends Error {
  constructor(readonly status: number, readonly detail: string, readonly headers: Record<string, string> = {}) {
    super(detail);
  }
}

/** A job with this id exists already (two submissions chose the same id). */
export class DuplicateJobError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} exists already`);
  }
}
