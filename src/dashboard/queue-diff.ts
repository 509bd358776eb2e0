// How the waiting queue changed between two looks, in few words: the jobs that left it, and runs
// of new jobs each placed after a job the page already has. The usual changes (the head taken by
// backends, new jobs at the tail, a job put back at the front) stay small with 1,000 waiting;
// anything else (a reorder) is sent whole. The page applies it with `applyQueueChange`
// (public/state.js).

export interface QueueInsert<R> {
  /** The job the run goes after; null: at the head. */
  after: string | null;
  rows: R[];
}

export type QueueChange<R> = { reset: R[] } | { removed: string[]; inserted: QueueInsert<R>[] };

/** The change from `prev` (ids in order) to `next` (rows in order); undefined when the same. */
export function diffQueue<R extends { id: string }>(prev: readonly string[], next: readonly R[]): QueueChange<R> | undefined {
  const nextIds = new Set(next.map((r) => r.id));
  const removed = prev.filter((id) => !nextIds.has(id));
  const kept = removed.length === 0 ? prev : prev.filter((id) => nextIds.has(id));
  const known = new Set(kept);
  const inserted: QueueInsert<R>[] = [];
  let k = 0;
  let run: QueueInsert<R> | undefined;
  let last: string | null = null;
  let insertedRows = 0;
  for (const row of next) {
    if (known.has(row.id)) {
      // A job the page has must come in the order it has them; otherwise it is a reorder.
      if (kept[k] !== row.id) return { reset: [...next] };
      k++;
      run = undefined;
    } else {
      if (!run) inserted.push((run = { after: last, rows: [] }));
      run.rows.push(row);
      insertedRows++;
    }
    last = row.id;
  }
  if (removed.length === 0 && inserted.length === 0) return undefined;
  // Mostly new: the whole list says it as well.
  if (insertedRows + removed.length > next.length) return { reset: [...next] };
  return { removed, inserted };
}
