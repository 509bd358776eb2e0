// CPython's heapq, step for step, so that GET /queue shows the same unsorted
// pending array a real server would.

export type Compare<T> = (a: T, b: T) => boolean;

function siftDown<T>(heap: T[], start: number, pos: number, less: Compare<T>): void {
  const item = heap[pos]!;
  while (pos > start) {
    const parentPos = (pos - 1) >> 1;
    const parent = heap[parentPos]!;
    if (!less(item, parent)) break;
    heap[pos] = parent;
    pos = parentPos;
  }
  heap[pos] = item;
}

function siftUp<T>(heap: T[], pos: number, less: Compare<T>): void {
  const end = heap.length;
  const start = pos;
  const item = heap[pos]!;
  let child = 2 * pos + 1;
  while (child < end) {
    const right = child + 1;
    if (right < end && !less(heap[child]!, heap[right]!)) child = right;
    heap[pos] = heap[child]!;
    pos = child;
    child = 2 * pos + 1;
  }
  heap[pos] = item;
  siftDown(heap, start, pos, less);
}

export function heapPush<T>(heap: T[], item: T, less: Compare<T>): void {
  heap.push(item);
  siftDown(heap, 0, heap.length - 1, less);
}

export function heapPop<T>(heap: T[], less: Compare<T>): T | undefined {
  const last = heap.pop();
  if (heap.length === 0 || last === undefined) return last;
  const top = heap[0]!;
  heap[0] = last;
  siftUp(heap, 0, less);
  return top;
}

export function heapify<T>(heap: T[], less: Compare<T>): void {
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftUp(heap, i, less);
}
