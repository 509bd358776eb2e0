// One way to make ids. Version 7 uuids are time-ordered: job ids sort by creation, and store
// indexes and logs read in order. They are still uuids, so ComfyUI accepts them as prompt_ids.
import { v7 as uuidv7 } from 'uuid';

export function newId(): string {
  return uuidv7();
}
